import Foundation
import SwiftNN

extension WorkerReport {
    /// Records every parameter's value (`<prefix>.<name>`) and gradient (`<prefix>.grad.<name>`).
    public mutating func recordModel(_ prefix: String, _ model: Module, gradients: Bool = true) {
        for (name, p) in model.namedParameters() {
            record("\(prefix).\(name)", p)
            if gradients { record("\(prefix).grad.\(name)", p.grad) }
        }
    }
}
