import TensorCore

/// Freezes every BatchNorm layer of `model` for fine-tuning, like the tutorial's `freeze_bn`:
/// the layers switch to eval mode (running statistics are used and no longer updated) and their
/// weight and bias stop requiring grad.
///
/// Unlike the tutorial's Python version, the layers *stay* frozen when `model.train()` is called
/// afterwards (``Module/isFrozen``), so the usual `model.train()` at the start of each epoch does
/// not silently unfreeze them.
///
/// ```swift
/// freezeBatchNorm(model)
/// model.train()                 // BatchNorm layers remain in eval mode
/// let opt = AdamW(model.parameters().filter(\.requiresGrad), lr: 1e-4)
/// unfreezeBatchNorm(model)      // back to normal
/// ```
public func freezeBatchNorm(_ model: Module) {
    for m in model.modules() where m is BatchNormBase {
        m.isFrozen = true
        for p in m.parameters() {
            p.requiresGrad = false
            p.grad = nil
        }
    }
}

/// Undoes ``freezeBatchNorm(_:)``: the BatchNorm layers train again (following `model`'s current
/// mode) and their parameters require grad.
public func unfreezeBatchNorm(_ model: Module) {
    for m in model.modules() where m is BatchNormBase {
        m.isFrozen = false
        for p in m.parameters() { p.requiresGrad = true }
        m.train(model.isTraining)
    }
}
