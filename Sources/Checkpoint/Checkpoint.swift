// The Checkpoint layer of SwiftNN. See README.md for the layering.
