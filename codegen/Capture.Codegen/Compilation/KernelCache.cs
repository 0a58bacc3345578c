using System.Security.Cryptography;
using System.Text;

namespace Capture.Codegen;

/// <summary>
/// Compiled kernel assemblies on disk, so a second process skips Roslyn for a graph it has seen.
/// The key hashes the generated source (a function of the graph and its schedule) with the
/// versions of Capture, of the code generator and of Roslyn. An entry is "CAPTURE-KERNELS-1", the
/// key, the image's SHA-256 and the image; anything that does not check out (truncated, corrupt,
/// another key) is treated as missing, deleted and rebuilt; so is an entry whose image then fails to
/// load. Writes go through a temporary file and a rename, so a reader never sees half an entry.
/// The cache holds native code the process loads, and a checksum authenticates nothing: the directory
/// is made private (0700, entries 0600), and, as ssh does, a directory or entry that another user owns
/// or others may write is not used (one message on stderr says why).
/// </summary>
public sealed class KernelCache(string directory)
{
    private static readonly byte[] Magic = "CAPTURE-KERNELS-1\n"u8.ToArray();

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Directory { get; } = directory;

    private readonly Lock _gate = new();
    private string? _refused;
    private bool _checked, _warned;

    /// <summary>Why the cache is not used (its directory is not private to this user), or null while it is.</summary>
    public string? Refused
    {
        get
        {
            lock (_gate)
            {
                if (_checked) return _refused;
                _checked = true;
                // the directory and the one above it (the cache's root): either, writable by others, lets them put code here
                foreach (var path in new[] { Path.GetDirectoryName(Directory), Directory })
                    if (path is not null && FileOwnership.Untrusted(path) is { } why)
                        return _refused = $"{path}: {why}";
                return null;
            }
        }
    }

    /// <summary>Says once on stderr why a cache directory or entry is not used.</summary>
    private void Warn(string why)
    {
        lock (_gate)
        {
            if (_warned) return;
            _warned = true;
        }
        Console.Error.WriteLine($"capture: not using the kernel cache ({why}): make it private to you (chmod 700, owned by you) or set CAPTURE_CACHE_DIR; kernels compile anew meanwhile");
    }

    /// <summary>The cache's folder: $CAPTURE_CACHE_DIR, else $XDG_CACHE_HOME/capture, else ~/.cache/capture; null when CAPTURE_CACHE=0.</summary>
    public static string? RootFromEnvironment() =>
        Environment.GetEnvironmentVariable("CAPTURE_CACHE") == "0" ? null
        : Environment.GetEnvironmentVariable("CAPTURE_CACHE_DIR") is { Length: > 0 } dir ? dir
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "capture");

    /// <summary>The cache of one backend under <see cref="RootFromEnvironment"/>; null when CAPTURE_CACHE=0.</summary>
    public static KernelCache? FromEnvironment(string backend) =>
        RootFromEnvironment() is { } root ? new KernelCache(Path.Combine(root, backend)) : null;

    public static string Key(string source, string salt) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(salt + "\n" + source)));

    private string PathOf(string key) => Path.Combine(Directory, key + ".bin");

    /// <summary>The image stored under <paramref name="key"/>, or null (missing or not valid: then removed).</summary>
    public byte[]? TryLoad(string key)
    {
        if (Refused is { } refused)
        {
            Warn(refused);
            return null;
        }
        var path = PathOf(key);
        if (FileOwnership.Untrusted(path) is { } why)
        {
            Warn($"{path}: {why}");
            return null;
        }
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var keyBytes = Encoding.ASCII.GetBytes(key + "\n");
        var header = Magic.Length + keyBytes.Length + 32;
        if (bytes.Length > header && bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic)
            && bytes.AsSpan(Magic.Length, keyBytes.Length).SequenceEqual(keyBytes))
        {
            var image = bytes[header..];
            if (SHA256.HashData(image).AsSpan().SequenceEqual(bytes.AsSpan(Magic.Length + keyBytes.Length, 32))) return image;
        }
        Discard(key);
        return null;
    }

    public void Store(string key, byte[] image)
    {
        if (Refused is not null) return;
        try
        {
            if (Path.GetDirectoryName(Directory) is { } root && !System.IO.Directory.Exists(root)) CreatePrivateDirectory(root);
            CreatePrivateDirectory(Directory);
            var temp = Path.Combine(Directory, $"{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var file = new FileStream(temp, options))
            {
                file.Write(Magic);
                file.Write(Encoding.ASCII.GetBytes(key + "\n"));
                file.Write(SHA256.HashData(image));
                file.Write(image);
            }
            File.Move(temp, PathOf(key), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a cache that cannot be written is a slower second process, not an error
        }
    }

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(path);
        else System.IO.Directory.CreateDirectory(path, Private);
    }

    /// <summary>Removes an entry that turned out unusable (a corrupt file, an image that does not load).</summary>
    public void Discard(string key)
    {
        try { File.Delete(PathOf(key)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
