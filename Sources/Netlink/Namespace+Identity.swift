import Glibc
import SystemCalls

extension NetworkNamespace {
    /// The inode of the named namespace: a namespace deleted and made again under the same name
    /// has a new one, so whatever was opened in the old one must be opened again. Nil when there
    /// is no such namespace (or it cannot be read).
    public static func inode(_ name: String) -> UInt64? {
        var st = stat()
        let file = path(of: name)
        guard (try? systemCall("stat", file) { stat(file, &st) }) != nil else { return nil }
        return UInt64(st.st_ino)
    }
}
