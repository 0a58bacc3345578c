using System.Runtime.InteropServices;

namespace Capture.Codegen;

/// <summary>
/// Who owns a file and who may write it (Linux: statx), for the kernel cache's check: native code is
/// loaded from there, so, as ssh does with its files, only a directory and entries that nobody but
/// this user can write are used.
/// </summary>
internal static partial class FileOwnership
{
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxBasicStats = 0x7ff;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(int directoryFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    /// <summary>Why <paramref name="path"/> cannot be trusted (another user's, or writable by others), or null when it can (or cannot be checked here).</summary>
    public static unsafe string? Untrusted(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buffer = stackalloc byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0) return null; // missing: nothing to trust yet
        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink, u32 uid, u32 gid, u16 mode
        var uid = *(uint*)(buffer + 20);
        var mode = *(ushort*)(buffer + 28);
        if (uid != geteuid()) return $"it belongs to another user (uid {uid})";
        if ((mode & 0b000_010_010) != 0) return $"others may write it (mode {Convert.ToString(mode & 0x1ff, 8)})";
        return null;
    }
}
