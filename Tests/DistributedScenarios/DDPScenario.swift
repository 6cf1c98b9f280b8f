import Foundation
import SwiftNN

/// The model of the data-parallel scenarios: two linear layers, a parameter only some ranks use
/// (`extra`) and one nobody uses (`unused`).
public final class DDPNet: Module {
    public let fc1: Linear
    public let fc2: Linear
    public let extra = Parameter(Tensor.zeros([3]))
    public let unused = Parameter(Tensor.ones([2]))
    /// Whether forward adds `extra` (the scenario turns it on for rank 0 only).
    public var useExtra = false

    public init(hidden: Int = 8) {
        fc1 = Linear(6, hidden)
        fc2 = Linear(hidden, 3)
        super.init()
        extra.copyData(from: Tensor([0.1, -0.2, 0.3] as [Float], shape: [3]))
    }

    override public func forward(_ x: Tensor) -> Tensor {
        let y = fc2(fc1(x).relu())
        return useExtra ? y + extra * extra : y
    }
}

/// Inputs and labels shared by every rank and by the single-process reference.
public enum DDPData {
    /// Rows per rank per micro-batch.
    public static let rowsPerRank = 4

    /// Micro-batch `step` of the global batch over `worldSize` ranks: `[rowsPerRank·W, 6]` inputs
    /// and labels.
    public static func global(step: Int, worldSize: Int) -> (x: Tensor, y: Tensor) {
        let n = rowsPerRank * worldSize
        let x = Tensor.randn([n, 6], generator: Generator(seed: 1000 + UInt64(step)))
        let y = Tensor((0..<n).map { Int64(($0 * 7 + step) % 3) }, shape: [n])
        return (x, y)
    }

    /// Rank `rank`'s rows of micro-batch `step`.
    public static func local(step: Int, rank: Int, worldSize: Int) -> (x: Tensor, y: Tensor) {
        let (x, y) = global(step: step, worldSize: worldSize)
        let a = rank * rowsPerRank, b = a + rowsPerRank
        return (x.sliced(dim: 0, start: a, end: b).clonedData(), y.sliced(dim: 0, start: a, end: b).clonedData())
    }

    /// The model every rank builds: seeded by rank so that only DDP's broadcast makes them equal.
    public static func model(seed: UInt64, hidden: Int = 8) -> DDPNet {
        Generator.withDefault(Generator(seed: seed)) { DDPNet(hidden: hidden) }
    }

    public static let learningRate = 0.1
}
