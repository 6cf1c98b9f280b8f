@_spi(Reflection) import Swift
import Synchronization

// Reflection (`Mirror`) is slow: it boxes every stored property and the member classification
// does dynamic casts, some of them over whole arrays. A module therefore reflects once and keeps
// its members; later calls only check that no member-holding stored property was reassigned since
// (`model.fc = Linear(512, 10)`, `seq[3] = …`, `blocks.append(…)`), which costs a few word
// comparisons per module.
//
// Swift has no observer for a plain stored property, so the check reads the properties itself:
// the standard library's reflection SPI (`_forEachField`, the metadata `Mirror` is built on)
// gives each stored property's byte offset and declared type once per class. A property that
// holds one class reference (or a class-bound existential such as `any Layer`) is compared as a
// single machine word — never dereferenced, so weak and unowned references are safe. An array of
// references is loaded with its exact declared type and compared element by element (in-place
// element assignment keeps the array's buffer). A class with a property that could hold a member
// but cannot be watched this way (typed `Any`, `AnyObject`, another protocol, an optional array …)
// is not cached: it reflects on every access, as before. So is any class the SPI cannot describe.

/// How one stored property is checked for reassignment.
enum FieldWatch {
    /// One word: a class reference (strong, weak or unowned), an optional one, or a class-bound
    /// existential (`any Layer`) whose first word is the reference.
    case word
    /// An array of class references or of `any Layer`, compared element by element.
    case objects(any ReferenceArrayField.Type)
}

/// An array type whose elements are class references (`[Module]`, `[Parameter]`, `[any Layer]`).
protocol ReferenceArrayField {
    /// The identities of the array stored at `address`, read with the array's exact type.
    static func identities(at address: UnsafeRawPointer) -> [ObjectIdentifier]
    static var elementType: Any.Type { get }
}

extension Array: ReferenceArrayField {
    static func identities(at address: UnsafeRawPointer) -> [ObjectIdentifier] {
        address.load(as: [Element].self).map { ObjectIdentifier($0 as AnyObject) }
    }
    static var elementType: Any.Type { Element.self }
}

/// Lets the layout code see through `Optional<Wrapped>` field types.
protocol OptionalField {
    static var wrappedType: Any.Type { get }
}

extension Optional: OptionalField {
    static var wrappedType: Any.Type { Wrapped.self }
}

/// The stored properties of one module class that can hold members, with their byte offsets.
struct ModuleLayout: @unchecked Sendable {
    var watched: [(offset: Int, watch: FieldWatch)] = []
    /// False when some property could hold a member but cannot be watched, or the class could
    /// not be described: its instances reflect on every access.
    var isCacheable = true

    private static let layouts = Mutex<[ObjectIdentifier: ModuleLayout]>([:])

    /// The layout of `type`, computed once per class.
    static func of(_ type: Module.Type) -> ModuleLayout {
        let id = ObjectIdentifier(type)
        if let known = layouts.withLock({ $0[id] }) { return known }
        let layout = ModuleLayout(describing: type)
        layouts.withLock { $0[id] = layout }
        return layout
    }

    private init(describing type: Module.Type) {
        // Module's own stored properties (mode flags, this cache …) are not members.
        var moduleOffsets = Set<Int>()
        let moduleOK = _forEachField(of: Module.self, options: classFields) { _, offset, _, _ in
            moduleOffsets.insert(offset)
            return true
        }
        var watched: [(offset: Int, watch: FieldWatch)] = []
        var cacheable = moduleOK
        let ok = _forEachField(of: type, options: classFields) { _, offset, fieldType, _ in
            guard !moduleOffsets.contains(offset) else { return true }
            switch ModuleLayout.watch(for: fieldType) {
            case .watch(let w): watched.append((offset, w))
            case .ignore: break
            case .opaque: cacheable = false
            }
            return true
        }
        self.watched = watched
        self.isCacheable = cacheable && ok
    }

    private enum Decision {
        case watch(FieldWatch), ignore, opaque
    }

    /// What a property of declared type `t` needs: `ignore` for types that can never hold a
    /// member (numbers, strings, enums, structs, tuples — the classification never looks inside
    /// them), `opaque` for types that might hold one out of sight (`Any`, protocols, optionals
    /// and arrays of those).
    private static func watch(for t: Any.Type) -> Decision {
        if isReference(t) { return .watch(.word) }
        if let o = t as? OptionalField.Type {
            let w = o.wrappedType
            if isReference(w) { return .watch(.word) }
            return isInert(w) ? .ignore : .opaque
        }
        if let a = t as? ReferenceArrayField.Type {
            let e = a.elementType
            if isReference(e) { return .watch(.objects(a)) }
            return isInert(e) ? .ignore : .opaque
        }
        return isInert(t) ? .ignore : .opaque
    }

    /// A class, or the class-bound `any Layer` (one reference word first).
    private static func isReference(_ t: Any.Type) -> Bool {
        t is AnyClass || ObjectIdentifier(t) == ObjectIdentifier((any Layer).self)
    }

    /// A struct, enum or tuple that is not an optional or an array: reflection never finds members
    /// inside it.
    private static func isInert(_ t: Any.Type) -> Bool {
        if t is OptionalField.Type || t is ReferenceArrayField.Type { return false }
        switch _MetadataKind(rawValue: swiftMetadataKind(t)) {
        case .struct, .enum, .tuple, .function, .metatype: return true
        default: return false
        }
    }

    /// The current value of every watched property of `module`.
    func snapshot(of module: Module) -> MemberSnapshot {
        var s = MemberSnapshot()
        let base = UnsafeRawPointer(Unmanaged.passUnretained(module).toOpaque())
        for (offset, watch) in watched {
            switch watch {
            case .word: s.words.append(base.load(fromByteOffset: offset, as: UInt.self))
            case .objects(let a): s.arrays.append(a.identities(at: base + offset))
            }
        }
        return withExtendedLifetime(module) { s }
    }

    /// Whether every watched property of `module` still holds what `snapshot` recorded.
    func matches(_ snapshot: MemberSnapshot, of module: Module) -> Bool {
        withExtendedLifetime(module) {
            let base = UnsafeRawPointer(Unmanaged.passUnretained(module).toOpaque())
            var w = 0, a = 0
            for (offset, watch) in watched {
                switch watch {
                case .word:
                    if base.load(fromByteOffset: offset, as: UInt.self) != snapshot.words[w] { return false }
                    w += 1
                case .objects(let type):
                    if type.identities(at: base + offset) != snapshot.arrays[a] { return false }
                    a += 1
                }
            }
            return true
        }
    }
}

/// `_forEachField`'s `.classType` option. The standard library declares it as a mutable
/// `static var`, which strict concurrency checking refuses to read, so it is spelled by its value.
private let classFields = _EachFieldOptions(rawValue: 1 << 0)

/// The runtime's kind of a type's metadata (struct, enum, existential …); the same entry point the
/// standard library's reflection uses.
@_silgen_name("swift_getMetadataKind")
private func swiftMetadataKind(_ type: Any.Type) -> UInt

/// The watched properties' values when the members were reflected.
struct MemberSnapshot {
    var words: [UInt] = []
    var arrays: [[ObjectIdentifier]] = []
}

/// A module's reflected members and what they were reflected from.
struct MemberCache {
    var members: ModuleMembers
    var snapshot: MemberSnapshot
}
