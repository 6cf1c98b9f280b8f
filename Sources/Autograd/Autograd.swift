// The Autograd layer of SwiftNN. See README.md for the layering.
