// Stand-in for the model zoo's MLPClassifier until the Models module provides it; same layers and
// state-dict keys as the tutorial's (net.0 … net.12), so checkpoints stay compatible.
// TODO(data): replace with Models.MLPClassifier / SmallCNN when they land on main.
import SwiftNN

final class StandInReLU: Module {
    override func forward(_ x: Tensor) -> Tensor { x.relu() }
    override var extraDescription: String { "" }
}

final class StandInMLPClassifier: Module {
    let net: Sequential
    init(inDim: Int, hiddenDims: [Int], numClasses: Int, dropout: Double = 0.5) {
        var layers: [any Layer] = []
        var prev = inDim
        for h in hiddenDims {
            layers += [Linear(prev, h), BatchNorm1d(h), StandInReLU(), Dropout(p: dropout)]
            prev = h
        }
        layers.append(Linear(prev, numClasses))
        net = Sequential(layers)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { net(x) }
}
