import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import Autograd
import NN
import Models
import TestSupport

/// Files written by real PyTorch (`scripts/reference/make_pth_fixtures.py`), read by the .pth
/// reader and compared with companion safetensors files written by the safetensors library.
@Suite struct TorchFileReadTests {
    static func pth(_ name: String) -> URL { Fixtures.url("pth/" + name) }

    static func reference(_ name: String) throws -> StateDict {
        try StateDict(safetensorsData: Data(contentsOf: pth(name)))
    }

    /// Same dtype, shape and bits; NaNs match any NaN (PyTorch's half-to-float conversion does not
    /// keep NaN payloads, SwiftNN's does).
    static func expectIdentical(_ got: Tensor?, _ want: Tensor?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got, let want else { Issue.record("\(what): missing", sourceLocation: sourceLocation); return }
        #expect(got.dtype == want.dtype, "\(what) dtype", sourceLocation: sourceLocation)
        #expect(got.shape == want.shape, "\(what) shape", sourceLocation: sourceLocation)
        guard got.dtype == want.dtype, got.shape == want.shape else { return }
        if got.dtype == .float32 {
            let g = got.toArray(of: Float.self), w = want.toArray(of: Float.self)
            let same = zip(g, w).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
            #expect(same, "\(what) values: \(g) vs \(w)", sourceLocation: sourceLocation)
        } else {
            #expect(rawBytes(got) == rawBytes(want), "\(what) values", sourceLocation: sourceLocation)
        }
    }

    static func expectClose(_ got: Tensor, _ want: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.shape == want.shape, sourceLocation: sourceLocation)
        let g = got.scalars, w = want.scalars
        for i in w.indices where !(abs(g[i] - w[i]) <= 1e-5 + 1e-4 * abs(w[i])) {
            Issue.record("output[\(i)]: \(g[i]) vs \(w[i])", sourceLocation: sourceLocation)
            return
        }
    }

    // MARK: Models

    /// The tutorial's SmallCNN saved with `torch.save(model.state_dict(), path)` (zip format)
    /// loads strictly and gives PyTorch's eval output.
    @Test func smallCNNZipFileLoadsStrictlyAndMatchesPyTorch() throws {
        let sd = try StateDict(contentsOf: Self.pth("small_cnn.pth"))
        let model = SmallCNN(inChannels: 3, numClasses: 10)
        #expect(sd.keys == model.stateDict().keys)
        let result = try model.loadStateDict(sd, strict: true)
        #expect(result.isComplete)
        model.eval()
        let ref = try Self.reference("small_cnn.reference.safetensors")
        Self.expectClose(withNoGrad { model(ref["input"]!) }, ref["output"]!)
        #expect(sd["features.0.block.1.num_batches_tracked"]?.dtype == .int64)
    }

    /// The same model in the legacy format (`_use_new_zipfile_serialization=False`) with float16
    /// weights: widened to float32 on load, the output equals PyTorch's with the widened weights.
    @Test func smallCNNLegacyHalfFileLoadsThroughModuleLoad() throws {
        let model = SmallCNN(inChannels: 3, numClasses: 10)
        try model.load(contentsOf: Self.pth("small_cnn_half_legacy.pth"))
        model.eval()
        #expect(model.stateDict()["features.0.block.0.weight"]?.dtype == .float32)
        let ref = try Self.reference("small_cnn_half_legacy.reference.safetensors")
        Self.expectClose(withNoGrad { model(ref["input"]!) }, ref["output"]!)
    }

    // MARK: Wrappers

    /// `{'model': sd, 'optimizer': …, 'scheduler': …, 'epoch': 3, …}`: the state dict is found
    /// without a key, every other entry can be inspected.
    @Test func trainingCheckpointIsInspectableAndItsModelIsFound() throws {
        let ckpt = try TorchFile.load(contentsOf: Self.pth("training_checkpoint.pth"))
        let ref = try Self.reference("training_checkpoint.reference.safetensors")

        let auto = try StateDict(ckpt)
        let byKey = try StateDict(ckpt, key: "model")
        #expect(auto.keys == byKey.keys)
        #expect(Set(auto.keys) == Set(ref.scoped("model").keys))
        for (k, t) in ref.scoped("model") { Self.expectIdentical(auto[k], t, k) }
        let fromFile = try StateDict(contentsOf: Self.pth("training_checkpoint.pth"))
        #expect(fromFile.keys == auto.keys)

        #expect(ckpt["epoch"]?.intValue == 3)
        #expect(ckpt["best_acc"]?.doubleValue == 0.875)
        let args = try #require(ckpt["args"])
        #expect(args["lr"]?.doubleValue == 1e-3)
        #expect(args["name"]?.stringValue == "run-7")
        #expect(args["tags"]?.elements?.compactMap(\.stringValue) == ["mnist", "cnn"])
        #expect(args["betas"]?[0]?.doubleValue == 0.9 && args["betas"]?[1]?.doubleValue == 0.999)
        if case .none? = args["resume"] {} else { Issue.record("resume: \(String(describing: args["resume"]))") }
        #expect(Set(args["flags"]?.elements?.compactMap(\.boolValue) ?? []) == [true, false])
        // 2**70 as little-endian two's complement: 1 in byte 8 (bit 70 = byte 8, bit 6).
        if case .bigInt(let b)? = args["big"] { #expect(b == [0, 0, 0, 0, 0, 0, 0, 0, 0x40]) } else { Issue.record("big") }
        #expect(args["neg"]?.intValue == -123456789012)
        if case .bytes(let b)? = args["blob"] { #expect(b == [0x00, 0xFF] + Array("bytes".utf8)) } else { Issue.record("blob") }
        #expect(args["size"]?.elements?.compactMap(\.intValue) == [2, 3])
        if case .device("cpu")? = args["device"] {} else { Issue.record("device") }
        if case .dtype("float16")? = args["dtype"] {} else { Issue.record("dtype") }

        // The optimizer state: Adam's step, exp_avg and exp_avg_sq per parameter, and its groups.
        let opt = try #require(ckpt["optimizer"])
        let state = try #require(opt["state"]?.dictValue)
        #expect(state.count == 10)
        for e in state.entries {
            let pid = try #require(e.key.intValue)
            for name in ["step", "exp_avg", "exp_avg_sq"] {
                Self.expectIdentical(e.value[name]?.tensorValue, ref["optimizer.state.\(pid).\(name)"], "state \(pid) \(name)")
            }
        }
        let group = try #require(opt["param_groups"]?[0])
        #expect(group["initial_lr"]?.doubleValue == 1e-3)
        #expect(group["lr"]?.doubleValue == 0.0009045084971874736)  // cosine annealing after two steps
        #expect(group["weight_decay"]?.doubleValue == 1e-4)
        #expect(group["amsgrad"]?.boolValue == false)
        #expect(group["params"]?.elements?.compactMap(\.intValue) == Array(0..<10))
        #expect(ckpt["scheduler"]?["T_max"]?.intValue == 10)
        #expect(ckpt["scheduler"]?["last_epoch"]?.intValue == 2)

        // nn.Parameter values keep requires_grad.
        let params = try #require(ckpt["extras"]?["named_parameters"]?.dictValue)
        #expect(params.count == 10 && params.isOrdered)
        for e in params.entries { #expect(e.value.tensorValue?.requiresGrad == true) }
        Self.expectIdentical(params["net.0.weight"]?.tensorValue, ref["model.net.0.weight"], "parameter")
        #expect(ckpt.description.contains("'epoch': 3"))
    }

    /// `{'state_dict': {'module.…': …}, …}` as DistributedDataParallel saves it: found
    /// automatically, the prefix stripped on request, and it then loads strictly.
    @Test func ddpPrefixedStateDictLoadsWithStripPrefix() throws {
        let url = Self.pth("ddp_wrapped.pth")
        let raw = try StateDict(contentsOf: url)
        #expect(raw.keys.allSatisfy { $0.hasPrefix("module.") })
        let sd = try StateDict(contentsOf: url, key: "state_dict", stripPrefix: "module.")
        let ref = try Self.reference("mlp.reference.safetensors")
        #expect(Set(sd.keys) == Set(ref.keys.filter { $0 != "input" && $0 != "output" }))
        #expect(sd.keys.first == "net.0.weight" && sd.keys.last == "net.8.bias")
        for k in sd.keys { Self.expectIdentical(sd[k], ref[k], k) }
        #expect(try StateDict(contentsOf: url, stripPrefix: "module.").keys == sd.keys)
    }

    /// Two entries that are both state dicts: the error names them and the top-level keys; a key
    /// resolves it.
    @Test func ambiguousWrapperNeedsAKey() throws {
        let url = Self.pth("two_state_dicts.pth")
        do {
            _ = try StateDict(contentsOf: url)
            Issue.record("expected an error")
        } catch {
            guard case .torchFile(.notAStateDict(let why)) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("'model'") && why.contains("'ema'") && why.contains("'step' (int)") && why.contains("key:"))
        }
        #expect(try StateDict(contentsOf: url, key: "ema").count == 16)
        do {
            _ = try StateDict(contentsOf: url, key: "nope")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("no key 'nope'"))
        }
        do {
            _ = try StateDict(contentsOf: url, key: "step")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("'step' holds a int"))
        }
    }

    // MARK: Element types

    @Test func halfAndBFloat16WidenExactly() throws {
        for (file, keys) in [("float16", ["half", "half_2d"]), ("bfloat16", ["bf16", "bf16_2d"])] {
            let sd = try StateDict(contentsOf: Self.pth(file + ".pth"))
            let ref = try Self.reference(file + ".reference.safetensors")
            for k in keys { Self.expectIdentical(sd[k], ref[k], "\(file) \(k)") }
        }
    }

    /// int32/int16/int8 and uint16/uint32 (`_rebuild_tensor_v3` over an UntypedStorage) widen to
    /// int64; float64, int64, uint8, bool, 0-d and empty tensors load as they are.
    @Test func everyIntegerAndFloatTypeLoads() throws {
        let sd = try StateDict(contentsOf: Self.pth("dtypes.pth"))
        let ref = try Self.reference("dtypes.reference.safetensors")
        #expect(Set(sd.keys) == Set(ref.keys))
        for k in ref.keys { Self.expectIdentical(sd[k], ref[k], k) }
        #expect(sd["scalar"]?.shape == [])
        #expect(sd["empty"]?.shape == [0, 3])
    }

    @Test func bigEndianFileIsByteSwapped() throws {
        let sd = try StateDict(contentsOf: Self.pth("big_endian.pth"))
        let ref = try Self.reference("big_endian.reference.safetensors")
        for k in ref.keys { Self.expectIdentical(sd[k], ref[k], k) }
    }

    // MARK: Views and shared storage

    /// Transposed, sliced, stepped, expanded (stride 0) and permuted views are materialised as
    /// PyTorch sees them; a tensor saved twice (tied weights) and a slice of it share memory after
    /// loading, in both formats; the lazy negation bit is applied.
    @Test(arguments: ["views.pth", "views_legacy.pth"])
    func viewsAndSharedStorages(_ file: String) throws {
        let sd = try StateDict(contentsOf: Self.pth(file))
        let ref = try Self.reference("views.reference.safetensors")
        #expect(Set(sd.keys) == Set(ref.keys))
        #expect(sd.keys.first == "base" && sd.keys.last == "param")
        for k in ref.keys { Self.expectIdentical(sd[k], ref[k], "\(file) \(k)") }
        let a = try #require(sd["tied_a"]), b = try #require(sd["tied_b"]), rows = try #require(sd["tied_rows"])
        #expect(a === b)  // the same tensor object in the pickle's memo
        #expect(rows.storage === a.storage && rows.storageOffset == 5)
        #expect(sd["flat_window"]?.storage === sd["base"]?.storage)
        #expect(sd["param"]?.requiresGrad == true)
    }

    @Test(arguments: ["protocol4.pth", "protocol5.pth"])
    func picklesOfProtocolFourAndFive(_ file: String) throws {
        let sd = try StateDict(contentsOf: Self.pth(file))
        let ref = try Self.reference("protocol.reference.safetensors")
        #expect(sd.count == 16)
        for k in sd.keys { Self.expectIdentical(sd[k], ref[k], k) }
    }

    @Test func tensorWithPythonAttributeLoads() throws {
        let sd = try StateDict(contentsOf: Self.pth("tensor_with_attribute.pth"))
        #expect(sd["t"]?.scalars == [1, 2])
    }

    // MARK: Malicious files

    /// Checkpoints whose pickle names a callable: refused at the GLOBAL, with its name, and the
    /// harmless payload is never run (nothing is ever called).
    @Test(arguments: [
        ("malicious_os_system.pth", "posix.system"),
        ("malicious_eval_legacy.pth", "builtins.eval"),
        ("malicious_exec_protocol4.pth", "builtins.exec"),
        ("malicious_handmade_os_system.pth", "os.system"),
        ("malicious_torch_load.pth", "torch.load"),
    ])
    func maliciousGlobalsAreRefused(_ file: String, _ global: String) throws {
        do {
            _ = try TorchFile.load(contentsOf: Self.pth(file))
            Issue.record("\(file) was accepted")
        } catch {
            guard case .forbiddenGlobal(_, _, let name) = error else { Issue.record("\(file): \(error)"); return }
            #expect(name == global)
            #expect(error.description.contains("'\(global)' is not allowed"))
        }
        #expect(throws: SafetensorsError.self) { try StateDict(contentsOf: Self.pth(file)) }
    }
}
