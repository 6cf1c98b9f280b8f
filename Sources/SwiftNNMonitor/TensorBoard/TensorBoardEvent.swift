/// One record of an event file: TensorFlow's `Event` message with the members TensorBoard's
/// scalar and histogram dashboards read (event.proto, summary.proto).
struct TensorBoardEvent {
    enum Payload {
        /// The first event of every file: `"brain.Event:2"`, and the name of the writing program.
        case fileVersion(String, writer: String)
        case scalar(tag: String, value: Float)
        case histogram(tag: String, TensorBoardHistogram)
    }

    var wallTime: Double
    var step: Int64
    var payload: Payload

    /// The serialized `Event`, fields in number order as the reference serializer writes them.
    var encoded: [UInt8] {
        var e = ProtobufEncoder()
        e.double(1, wallTime)              // wall_time
        e.int64(2, step)                   // step
        switch payload {
        case let .fileVersion(version, writer):
            e.string(3, version, always: true)          // file_version (oneof: written even if empty)
            var source = ProtobufEncoder()
            source.string(1, writer)                    // SourceMetadata.writer
            e.lengthDelimited(10, source.bytes)         // source_metadata
        case let .scalar(tag, value):
            var v = ProtobufEncoder()
            v.string(1, tag)                            // Summary.Value.tag
            v.float(2, value, always: true)             // simple_value (oneof)
            e.lengthDelimited(5, Self.summary(v.bytes)) // summary
        case let .histogram(tag, histogram):
            var v = ProtobufEncoder()
            v.string(1, tag)
            v.lengthDelimited(5, histogram.encoded)     // histo (oneof)
            e.lengthDelimited(5, Self.summary(v.bytes))
        }
        return e.bytes
    }

    /// A `Summary` holding one `Summary.Value`.
    private static func summary(_ value: [UInt8]) -> [UInt8] {
        var s = ProtobufEncoder()
        s.lengthDelimited(1, value)
        return s.bytes
    }
}
