import IntoneCore

/// One page of entries from several streams of a queue (its shards and the version-1
/// stream), newest first, each read with the same bounded XREVRANGE.
///
/// When a stream's read was cut by its `COUNT`, its older entries are unread: the page
/// keeps only entries at or after the newest such cut (so that nothing is skipped), and
/// the next page starts there.
struct MergedPage {
    /// An entry and the label of its stream (`3`, `q`), nil on a queue without shards.
    struct Item {
        var label: String?
        var entry: StreamEntry
        /// The entry as links name it: `<id>@<label>`, or the plain id.
        var ref: String { label.map { "\(entry.id)@\($0)" } ?? entry.id }
    }

    /// One stream's read: its entries newest first, and whether `COUNT` cut it.
    struct Read {
        var label: String?
        var entries: [StreamEntry]
        var cut: Bool
    }

    var items: [Item]
    var matching: Int
    var scanned: Int
    var next: String?
    /// The newest entry read, of any stream.
    var newest: String?

    init(_ reads: [Read], pageSize: Int, matches: (StreamEntry) -> Bool) {
        let cutoff = reads.filter(\.cut).compactMap { $0.entries.last?.id }.max { EntryID.precedes($0, $1) }
        var all = reads.flatMap { read in read.entries.map { Item(label: read.label, entry: $0) } }
        scanned = all.count
        newest = all.map(\.entry.id).max { EntryID.precedes($0, $1) }
        all.sort { EntryID.precedes($1.entry.id, $0.entry.id) }
        if let cutoff { all = all.filter { !EntryID.precedes($0.entry.id, cutoff) } }
        let matched = all.filter { matches($0.entry) }
        matching = matched.count
        items = Array(matched.prefix(pageSize))
        if matched.count > pageSize {
            next = items.last?.entry.id
        } else {
            next = cutoff
        }
    }
}
