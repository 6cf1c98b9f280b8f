/// An error in how the library was called: wrong rank, mismatched shapes, a bad argument.
///
/// PyTorch raises these as exceptions; in SwiftNN the non-throwing entry points (`model(x)`,
/// `a + b`) stop the program with this message, and every check is also reachable through a
/// throwing `validate…` function so that callers (and tests) can handle it.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Who refused: a layer (`"BatchNorm2d"`) or an op (`"matmul"`).
    public let source: String
    /// What was expected and what was got, in PyTorch's words where PyTorch has them.
    public let message: String

    public init(_ source: String, _ message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}

/// Stops the program with a ``UsageError``'s message. Used for programmer errors only; data from
/// outside (files, checkpoints, flags) always throws instead.
@inline(never)
public func usageFailure(_ error: UsageError, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(error.description, file: file, line: line)
}

/// Checks a precondition and stops with a ``UsageError`` naming `source` when it fails.
@inlinable
public func usageCheck(
    _ condition: @autoclosure () -> Bool, _ source: @autoclosure () -> String,
    _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { usageFailure(UsageError(source(), message()), file: file, line: line) }
}

/// PyTorch's way of printing a shape in messages (`[2, 3]`).
@inlinable
public func shapeString(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
