// The umbrella module: `import SwiftNN` gives the whole public API, layer by layer.
@_exported import TensorCore
@_exported import Autograd
@_exported import NN
@_exported import Optim
@_exported import Data
@_exported import Checkpoint
@_exported import DistributedTraining
@_exported import Models
