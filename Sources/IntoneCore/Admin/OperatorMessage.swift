/// Redis failures in the words an operator acts on: what could not be done, and why,
/// without a raw error reply.
extension RedisError {
    /// One line for standard error. `key` names the key the command was about, if any.
    public func operatorMessage(key: String? = nil) -> String {
        let about = key.map { " \(DisplayText.escaped($0))" } ?? ""
        switch code {
        case .configuration:
            return DisplayText.escaped(message)
        case .connection:
            return "Redis is unreachable: \(DisplayText.escaped(message))"
        case .authentication:
            return "Redis refused the credentials: \(DisplayText.escaped(message))"
        case .wrongType:
            return "the key\(about) holds a value of another type than expected (is this the right queue?)"
        case .noPermission:
            return "the Redis user may not do this\(about.isEmpty ? "" : " on\(about)") (ACL): \(DisplayText.escaped(message))"
        case .loading, .busy, .tryAgain, .clusterDown, .masterDown:
            return "Redis cannot answer now (\(code.name)); try again in a moment"
        case .outOfMemory:
            return "Redis is out of memory (maxmemory) and refuses writes"
        case .readOnly:
            return "this Redis is a read-only replica; point --redis at the master"
        default:
            return "Redis refused the command\(about.isEmpty ? "" : " on\(about)"): \(DisplayText.escaped(message))"
        }
    }
}
