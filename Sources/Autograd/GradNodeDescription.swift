/// A node describes itself as PyTorch names its backward functions (`MulBackward0`,
/// `BatchNormBackward0`), which is what a tensor's repr shows as `grad_fn=<…>`.
extension GradNode: CustomStringConvertible {
    public var description: String {
        name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Backward0"
    }
}
