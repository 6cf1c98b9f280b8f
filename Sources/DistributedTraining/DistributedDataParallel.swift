import Autograd
import NN
import TensorCore

/// Data-parallel training, like `torch.nn.parallel.DistributedDataParallel`: every rank holds a
/// replica of `module`, runs it on its own share of each batch, and after `backward()` every
/// replica's gradients are the average of all ranks' gradients, so identical optimizer steps keep
/// the replicas identical.
///
/// - At construction the ranks check that their models have the same parameter and buffer names,
///   shapes and dtypes (a mismatch throws the same ``DistributedError`` on every rank rather than
///   hanging), then rank 0's parameters and buffers are copied to every rank.
/// - Gradients travel in buckets of about `bucketCapMB` (the first one 1 MB, as in PyTorch),
///   filled in reverse parameter order. With `overlapCommunication`, a bucket's all-reduce starts as
///   soon as the backward pass has produced all its gradients, while the rest of the pass still
///   runs; `backward()` returns once every bucket is averaged.
/// - With `broadcastBuffers` (the default, as in PyTorch) rank 0's buffers (BatchNorm running
///   statistics) are copied to every rank before each training forward pass.
/// - ``noSync(_:)`` skips the averaging for gradient accumulation.
///
/// Parameters no rank gave a gradient to keep their `grad` untouched. The state dict has
/// PyTorch's `module.` prefix; save ``module``'s own state dict to load it without the wrapper.
/// A communication failure inside `forward` or `backward` (which cannot throw) takes the whole job
/// down with ``ProcessGroup/abort(_:exitCode:)``.
///
/// ```swift
/// let group = try initProcessGroup(backend: .mpi)
/// let ddp = try DistributedDataParallel(SyncBatchNorm.convert(model), processGroup: group)
/// let optimizer = AdamW(ddp.parameters(), lr: 1e-3)
/// for (x, y) in loader {                          // a DistributedSampler splits the data
///     optimizer.zeroGrad()
///     criterion(ddp(x), targets: y).backward()    // gradients averaged over the ranks
///     optimizer.step()
/// }
/// ```
public final class DistributedDataParallel: Module {
    /// The wrapped model.
    public let module: Module
    /// Communicates for this wrapper.
    public var processGroup: any ProcessGroup { groupBox.group }
    /// A class reference, so that Module's member cache watches one word instead of an existential.
    private let groupBox: GroupBox
    /// Bucket size for gradient all-reduces, in MiB.
    public let bucketCapMB: Double
    /// Whether rank 0's buffers are copied to all ranks before each training forward pass.
    public let broadcastBuffers: Bool
    /// Whether gradient all-reduces start during the backward pass (otherwise all at its end).
    public let overlapCommunication: Bool
    private let reducer: GradientReducer?
    private var requireBackwardGradSync = true

    /// Wraps `module` for data-parallel training over `processGroup` (default: the group made by
    /// `initProcessGroup`, or a single process). Collective: every rank must call it.
    public init(_ module: Module, processGroup: (any ProcessGroup)? = nil, bucketCapMB: Double = 25,
                broadcastBuffers: Bool = true, overlapCommunication: Bool = true) throws(DistributedError) {
        let group = processGroup ?? defaultProcessGroup ?? SingleProcessGroup()
        usageCheck(module.parameters().contains { $0.requiresGrad }, "DistributedDataParallel",
                   "DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient.")
        usageCheck(bucketCapMB > 0, "DistributedDataParallel", "bucket_cap_mb must be positive, got \(bucketCapMB)")
        self.module = module
        groupBox = GroupBox(group)
        self.bucketCapMB = bucketCapMB
        self.broadcastBuffers = broadcastBuffers
        self.overlapCommunication = overlapCommunication
        if group.worldSize > 1 {
            try DistributedDataParallel.verifySameModel(module, group)
            try broadcastCoalesced(module.namedParameters().map { $0.1 as Tensor } + module.namedBuffers().map(\.1), group)
            // Gradient traffic on a communicator of its own, so it can never interleave with other
            // collectives (SyncBatchNorm's) issued while its all-reduces are in flight.
            let gradientGroup: any ProcessGroup = (group as? MPIProcessGroup).map { g in (try? g.duplicate()) ?? g } ?? group
            reducer = GradientReducer(parameters: module.parameters().filter(\.requiresGrad), group: gradientGroup,
                                      abortGroup: group, bucketCapBytes: Int(bucketCapMB * 1024 * 1024),
                                      overlap: overlapCommunication)
        } else {
            reducer = nil
        }
        super.init()
    }

    deinit { reducer?.removeHooks() }

    override public func forward(_ x: Tensor) -> Tensor {
        if isTraining && broadcastBuffers, reducer != nil {
            let buffers = module.namedBuffers().map(\.1)
            do { try broadcastCoalesced(buffers, processGroup) } catch { processGroup.abort("\(error)", exitCode: 1) }
        }
        reducer?.syncNextBackward = requireBackwardGradSync && GradMode.isEnabled
        return module(x)
    }

    /// Runs `body` (forward and backward passes) without averaging gradients, like PyTorch's
    /// `no_sync()`: gradients accumulate locally, and the first synchronized backward after it
    /// averages the accumulated gradients.
    ///
    /// ```swift
    /// ddp.noSync { criterion(ddp(x1), targets: y1).backward() }   // local accumulation
    /// criterion(ddp(x2), targets: y2).backward()                    // averages x1 + x2's gradients
    /// optimizer.step()
    /// ```
    public func noSync<R>(_ body: () throws -> R) rethrows -> R {
        let old = requireBackwardGradSync
        requireBackwardGradSync = false
        defer { requireBackwardGradSync = old }
        return try body()
    }

    /// Number of gradient buckets (0 for a single process).
    public var bucketCount: Int { reducer?.buckets.count ?? 0 }

    override public var extraDescription: String { "" }

    /// Compares every rank's list of parameter and buffer names, shapes and dtypes with rank 0's.
    static func verifySameModel(_ module: Module, _ group: any ProcessGroup) throws(DistributedError) {
        func line(_ kind: String, _ name: String, _ t: Tensor) -> String {
            "\(kind) '\(name)' \(shapeString(t.shape)) \(t.dtype)"
        }
        let mine = module.namedParameters().map { line("parameter", $0.0, $0.1) }
            + module.namedBuffers().map { line("buffer", $0.0, $0.1) }
        let all = try group.allGather(string: mine.joined(separator: "\n"))
        let reference = all[0].split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        for (r, text) in all.enumerated().dropFirst() {
            let theirs = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            guard theirs != reference else { continue }
            let common = min(reference.count, theirs.count)
            let i = (0..<common).first { reference[$0] != theirs[$0] } ?? common
            let a = i < reference.count ? reference[i] : "nothing more"
            let b = i < theirs.count ? theirs[i] : "nothing more"
            throw .mismatch("DistributedDataParallel: the model on rank \(r) differs from rank 0's: rank 0 has \(a) where rank \(r) has \(b); "
                + "every rank must build the same model")
        }
    }
}

/// Holds a process group in one class reference.
final class GroupBox {
    let group: any ProcessGroup
    init(_ group: any ProcessGroup) { self.group = group }
}

/// Copies rank 0's values of `tensors` to every rank, one broadcast per dtype.
func broadcastCoalesced(_ tensors: [Tensor], _ group: any ProcessGroup) throws(DistributedError) {
    guard group.worldSize > 1 else { return }
    for dtype in DType.allCases {
        let same = tensors.filter { $0.dtype == dtype }
        guard !same.isEmpty else { continue }
        let total = same.reduce(0) { $0 + $1.count }
        let flat = Tensor(uninitializedShape: [total], dtype: dtype)
        var offset = 0
        for t in same {
            Tensor(storage: flat.storage, shape: [t.count], dtype: dtype, offset: offset).copyData(from: t)
            offset += t.count
        }
        try group.broadcast(flat, from: 0)
        offset = 0
        for t in same {
            t.copyData(from: Tensor(storage: flat.storage, shape: [t.count], dtype: dtype, offset: offset))
            offset += t.count
        }
    }
}

/// Averages gradients over the ranks in buckets, started from the parameters' gradient hooks.
final class GradientReducer {
    /// A group of parameters whose gradients travel in one all-reduce: their flattened gradients
    /// back to back, then one "had a gradient" flag per parameter (summed over the ranks).
    final class Bucket {
        let params: [Parameter]
        let offsets: [Int]
        let elements: Int
        let flat: Tensor
        var marked: [Bool]
        var pending: Int
        var work: (any DistributedWork)?

        init(_ params: [Parameter]) {
            self.params = params
            var offsets: [Int] = [], n = 0
            for p in params { offsets.append(n); n += p.count }
            self.offsets = offsets
            elements = n
            flat = Tensor(uninitializedShape: [n + params.count], dtype: params[0].dtype)
            marked = Array(repeating: false, count: params.count)
            pending = params.count
        }

        func view(_ i: Int) -> Tensor {
            Tensor(storage: flat.storage, shape: params[i].shape, dtype: flat.dtype, offset: offsets[i])
        }

        /// Puts parameter i's current gradient (or zeros) and its flag into the flat buffer.
        func fill(_ i: Int) {
            let v = view(i)
            if let g = params[i].grad {
                v.copyData(from: g)
                flat.setValue(1, at: elements + i)
            } else {
                v.fill(0)
                flat.setValue(0, at: elements + i)
            }
            marked[i] = true
            pending -= 1
        }

        func reset() {
            marked = Array(repeating: false, count: params.count)
            pending = params.count
            work = nil
        }
    }

    let group: any ProcessGroup
    let abortGroup: any ProcessGroup
    let overlap: Bool
    private(set) var buckets: [Bucket] = []
    private var slot: [ObjectIdentifier: (bucket: Int, index: Int)] = [:]
    private var handles: [GradHookHandle] = []
    private var nextToLaunch = 0
    private var finishQueued = false
    /// Set by each forward pass: whether the backward pass that follows averages gradients.
    var syncNextBackward = true

    init(parameters: [Parameter], group: any ProcessGroup, abortGroup: any ProcessGroup, bucketCapBytes: Int, overlap: Bool) {
        self.group = group
        self.abortGroup = abortGroup
        self.overlap = overlap
        // PyTorch's assignment: reverse parameter order (roughly the order gradients become
        // ready), one dtype per bucket, the first bucket small so communication starts early.
        let firstBucketBytes = min(1 << 20, bucketCapBytes)
        var open: [DType: [Parameter]] = [:], openBytes: [DType: Int] = [:]
        var groups: [[Parameter]] = []
        for p in parameters.reversed() {
            open[p.dtype, default: []].append(p)
            openBytes[p.dtype, default: 0] += p.count * p.dtype.byteSize
            let limit = groups.isEmpty ? firstBucketBytes : bucketCapBytes
            if openBytes[p.dtype]! >= limit {
                groups.append(open[p.dtype]!)
                open[p.dtype] = nil
                openBytes[p.dtype] = nil
            }
        }
        for dtype in DType.allCases { if let rest = open[dtype] { groups.append(rest) } }
        buckets = groups.map(Bucket.init)
        for (b, bucket) in buckets.enumerated() {
            for (i, p) in bucket.params.enumerated() { slot[ObjectIdentifier(p)] = (b, i) }
        }
        for p in parameters {
            handles.append(p.registerPostAccumulateGradHook { [weak self] leaf in self?.gradientReady(leaf) })
        }
    }

    func removeHooks() {
        for h in handles { h.remove() }
        handles = []
    }

    private func gradientReady(_ p: Tensor) {
        guard syncNextBackward, let (b, i) = slot[ObjectIdentifier(p)] else { return }
        if !finishQueued {
            finishQueued = true
            Autograd.queueCallback { [weak self] in self?.finish() }
        }
        guard overlap else { return }
        let bucket = buckets[b]
        guard !bucket.marked[i] else { return }
        bucket.fill(i)
        guard bucket.pending == 0 else {
            progress()
            return
        }
        // Buckets start in order on every rank (collectives must be issued in the same order).
        while nextToLaunch < buckets.count && buckets[nextToLaunch].pending == 0 {
            launch(buckets[nextToLaunch])
            nextToLaunch += 1
        }
    }

    private func launch(_ bucket: Bucket) {
        do { bucket.work = try group.allReduceAsync(bucket.flat, op: .sum) } catch { abortGroup.abort("\(error)", exitCode: 1) }
    }

    /// Lets MPI advance the transfers in flight (non-blocking collectives progress inside MPI calls).
    private func progress() {
        for bucket in buckets[..<nextToLaunch] {
            guard let work = bucket.work else { continue }
            do { _ = try work.isCompleted() } catch { abortGroup.abort("\(error)", exitCode: 1) }
        }
    }

    /// End of the backward pass: start what is left (parameters the pass did not reach), wait for
    /// every bucket, and write the averaged gradients back.
    private func finish() {
        finishQueued = false
        let w = Double(group.worldSize)
        do {
            for bucket in buckets[nextToLaunch...] {
                for i in bucket.params.indices where !bucket.marked[i] { bucket.fill(i) }
                if overlap { launch(bucket) }
            }
            for bucket in buckets {
                if let work = bucket.work { try work.wait() } else { try group.allReduce(bucket.flat, op: .sum) }
                for (i, p) in bucket.params.enumerated() where bucket.flat.doubleValue(at: bucket.elements + i) > 0 {
                    p.grad = Kernels.binary(.div, bucket.view(i), w)
                }
                bucket.reset()
            }
        } catch {
            abortGroup.abort("\(error)", exitCode: 1)
        }
        nextToLaunch = 0
    }
}
