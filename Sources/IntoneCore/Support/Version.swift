/// This build's version, as workers report it in their heartbeat and `intone --version`.
public enum IntoneVersion {
    public static let current = "1.1.0"
}
