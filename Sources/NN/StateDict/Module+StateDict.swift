import TensorCore
import Autograd

/// One state-dict entry of a model: its key, the tensor in the model, and the module that owns it
/// under which local key.
struct StateSlot {
    var key: String
    var tensor: Tensor
    var owner: Module
    var local: String
}

extension Module {
    /// Every state-dict entry in PyTorch's order: each module's own parameters, then its own
    /// persistent buffers, then its children's entries recursively (a shared module under every
    /// key it is reachable by, as PyTorch's `state_dict` does).
    func stateSlots() -> [StateSlot] {
        var out: [StateSlot] = []
        walk(visitSharedOnce: false) { prefix, m, members in
            let p = prefix.isEmpty ? "" : prefix + "."
            for (k, t) in members.parameters { out.append(StateSlot(key: p + k, tensor: t, owner: m, local: k)) }
            for (k, b) in members.buffers where b.persistent {
                out.append(StateSlot(key: p + k, tensor: b, owner: m, local: k))
            }
        }
        return out
    }

    /// Parameters and persistent buffers under PyTorch's keys and in PyTorch's order: each
    /// module's own parameters, then its own buffers, then its children's entries recursively.
    ///
    /// The tensors are detached references to the module's data (like PyTorch's `state_dict()`):
    /// they see later training updates. Use ``StateDict/cloned()`` for a snapshot.
    ///
    /// ```swift
    /// let best = model.stateDict().cloned()
    /// try model.stateDict().save(to: url)
    /// ```
    public func stateDict() -> StateDict {
        var sd = StateDict()
        for slot in stateSlots() { sd[slot.key] = slot.tensor.detach() }
        return sd
    }

    /// Copies `stateDict`'s tensors into this model's parameters and buffers, in place (so
    /// optimizers holding the parameters keep working). Values of another floating dtype are
    /// converted (float64 → float32).
    ///
    /// Shape mismatches are always an error (as in PyTorch, even with `strict: false`). With
    /// `strict: true`, missing and unexpected keys are errors too. Nothing is modified when an
    /// error is thrown, and the error lists every problem at once. With `strict: false`, every
    /// matching entry is loaded and the missing and unexpected keys are returned.
    ///
    /// ```swift
    /// let sd = try StateDict(contentsOf: url)
    /// try model.loadStateDict(sd)                       // strict
    /// let r = try model.loadStateDict(sd, strict: false)
    /// r.missingKeys, r.unexpectedKeys
    /// ```
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws(StateDictError) -> LoadResult {
        var expected = Set<String>()
        var missing: [String] = []
        var toFill: [(Module, String)] = []
        var mismatched: [StateDictError.Mismatch] = []
        var toCopy: [(Tensor, Tensor)] = []
        for slot in stateSlots() {
            expected.insert(slot.key)
            guard let src = stateDict[slot.key] else {
                if type(of: slot.owner).optionalStateKeys.contains(slot.local) {
                    toFill.append((slot.owner, slot.local))
                } else {
                    missing.append(slot.key)
                }
                continue
            }
            if src.shape != slot.tensor.shape {
                mismatched.append(.init(key: slot.key, checkpointShape: src.shape, modelShape: slot.tensor.shape))
            } else if !Module.canConvert(src.dtype, to: slot.tensor.dtype) {
                mismatched.append(.init(key: slot.key, checkpointShape: src.shape, modelShape: slot.tensor.shape,
                                        checkpointDType: src.dtype, modelDType: slot.tensor.dtype))
            } else {
                toCopy.append((slot.tensor, src))
            }
        }
        let unexpected = stateDict.keys.filter { !expected.contains($0) }
        if !mismatched.isEmpty || (strict && !(missing.isEmpty && unexpected.isEmpty)) {
            throw StateDictError(modelName: typeName, missingKeys: strict ? missing : [],
                                 unexpectedKeys: strict ? unexpected : [], mismatched: mismatched)
        }
        for (dst, src) in toCopy { Module.copyConverting(src, into: dst) }
        for (owner, local) in toFill { owner.fillMissingStateKey(local) }
        return LoadResult(missingKeys: missing, unexpectedKeys: unexpected)
    }

    private static func canConvert(_ from: DType, to: DType) -> Bool {
        from == to || (from.isFloatingPoint && to.isFloatingPoint) || (!from.isFloatingPoint && !to.isFloatingPoint)
    }

    private static func copyConverting(_ src: Tensor, into dst: Tensor) {
        dst.copyData(from: Kernels.cast(src, to: dst.dtype))
    }
}
