import Testing
import SwiftNN

@Suite struct ForwardHookTests {
    /// Hooks see each module's input and output as the module finishes: inner layers before the
    /// containers that call them, like PyTorch's register_forward_hook.
    @Test func hooksFireAfterEachForwardInCompletionOrder() {
        let inner = Sequential { Linear(3, 4); ReLU() }
        let model = Sequential { inner; Linear(4, 2) }
        var calls: [(String, [Int], [Int])] = []
        let names = Dictionary(uniqueKeysWithValues: model.namedModules().map { (ObjectIdentifier($0.1), $0.0) })
        let handles = model.modules().map { m in
            m.registerForwardHook { module, input, output in calls.append((names[ObjectIdentifier(module)]!, input.shape, output.shape)) }
        }
        _ = model(Tensor.randn([5, 3]))
        #expect(calls.map(\.0) == ["0.0", "0.1", "0", "1", ""])
        #expect(calls.map(\.1) == [[5, 3], [5, 4], [5, 3], [5, 4], [5, 3]])
        #expect(calls.map(\.2) == [[5, 4], [5, 4], [5, 4], [5, 2], [5, 2]])
        for h in handles { h.remove() }
        calls.removeAll()
        _ = model(Tensor.randn([5, 3]))
        #expect(calls.isEmpty)
    }

    @Test func hooksRunInRegistrationOrderAndRemoveIndividually() {
        let layer = Linear(2, 2)
        var log: [Int] = []
        let a = layer.registerForwardHook { _, _, _ in log.append(1) }
        layer.registerForwardHook { _, _, _ in log.append(2) }
        _ = layer(Tensor.randn([1, 2]))
        a.remove()
        a.remove()
        _ = layer(Tensor.randn([1, 2]))
        #expect(log == [1, 2, 2])
        // Hooks are not state.
        #expect(layer.stateDict().keys == ["weight", "bias"])
    }
}
