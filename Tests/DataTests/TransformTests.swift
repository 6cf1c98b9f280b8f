import Foundation
import Testing
import SwiftNN

@Suite struct TransformTests {
    /// A batch [n, c, h, w] whose element value encodes its position.
    func coded(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Tensor {
        var v: [Float] = []
        for s in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w { v.append(Float(s * 1000 + ch * 100 + y * 10 + x + 1)) } } } }
        return Tensor(v, shape: [n, c, h, w])
    }

    @Test func normalizePerChannel() {
        let t = Tensor([1, 2, 3, 4, 5, 6, 7, 8] as [Float], shape: [1, 2, 2, 2])
        let out = Normalize(mean: [1, 2], std: [2, 4]).callAsFunction(t).scalars
        #expect(out == [0, 0.5, 1, 1.5, 0.75, 1, 1.25, 1.5])
    }

    @Test func randomCropPadsWithZerosAndIsSeeded() {
        let x = coded(6, 2, 4, 5)
        let crop = RandomCrop(height: 4, width: 5, padding: 2)
        let a = crop(x, generator: Generator(seed: 9)).scalars
        let b = crop(x, generator: Generator(seed: 9)).scalars
        #expect(a == b)
        // Every output is a shifted copy of its own sample with zero fill: find the shift and check all.
        let src = x.scalars
        var shifts = Set<[Int]>()
        for s in 0..<6 {
            var found: [Int]? = nil
            for dy in -2...2 { for dx in -2...2 {
                var ok = true
                for ch in 0..<2 { for y in 0..<4 { for xx in 0..<5 {
                    let sy = y + dy, sx = xx + dx
                    let want: Float = (sy >= 0 && sy < 4 && sx >= 0 && sx < 5) ? src[((s * 2 + ch) * 4 + sy) * 5 + sx] : 0
                    if a[((s * 2 + ch) * 4 + y) * 5 + xx] != want { ok = false }
                } } }
                if ok { found = [dy, dx] }
            } }
            #expect(found != nil, "sample \(s) is not a padded crop")
            if let f = found { shifts.insert(f) }
        }
        #expect(shifts.count > 1)   // not the same offset for all six
        // No padding and full size: the identity.
        #expect(RandomCrop(height: 4, width: 5)(x, generator: Generator(seed: 1)).scalars == src)
    }

    @Test func horizontalFlip() {
        let x = coded(8, 1, 2, 3)
        let src = x.scalars
        let all = RandomHorizontalFlip(p: 1)(coded(8, 1, 2, 3), generator: Generator(seed: 0)).scalars
        for s in 0..<8 { for y in 0..<2 { for c in 0..<3 { #expect(all[(s * 2 + y) * 3 + c] == src[(s * 2 + y) * 3 + (2 - c)]) } } }
        #expect(RandomHorizontalFlip(p: 0)(coded(8, 1, 2, 3), generator: Generator(seed: 0)).scalars == src)
        let half1 = RandomHorizontalFlip()(coded(8, 1, 2, 3), generator: Generator(seed: 5)).scalars
        let half2 = RandomHorizontalFlip()(coded(8, 1, 2, 3), generator: Generator(seed: 5)).scalars
        #expect(half1 == half2)
    }

    @Test func loaderAppliesRandomTransformsReproducibly() {
        func run() -> [[Float]] {
            let ds = TensorDataset(inputs: coded(9, 1, 3, 3), labels: Tensor([Int64](repeating: 0, count: 9), shape: [9]))
            let loader = DataLoader(ds, batchSize: 4, shuffle: true, generator: Generator(seed: 11),
                                    transforms: [RandomCrop(3, padding: 1), RandomHorizontalFlip()])
            return loader.map { $0.inputs.scalars } + loader.map { $0.inputs.scalars }
        }
        #expect(run() == run())
    }
}
