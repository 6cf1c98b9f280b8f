// The NN layer of SwiftNN. See README.md for the layering.
