using System.Security.Cryptography;
using System.Text;

namespace Capture.Codegen;

/// <summary>
/// Compiled kernel assemblies on disk, so a second process skips Roslyn for a graph it has seen.
/// The key hashes the generated source (a function of the graph and its schedule) with the
/// versions of Capture, of the code generator and of Roslyn. An entry is "CAPTURE-KERNELS-1", the
/// key, the image's SHA-256 and the image; anything that does not check out (truncated, corrupt,
/// another key) is treated as missing, deleted and rebuilt. Writes go through a temporary file and
/// a rename, so a reader never sees half an entry.
/// </summary>
public sealed class KernelCache(string directory)
{
    private static readonly byte[] Magic = "CAPTURE-KERNELS-1\n"u8.ToArray();

    public string Directory { get; } = directory;

    /// <summary>$CAPTURE_CACHE_DIR, else $XDG_CACHE_HOME/capture, else ~/.cache/capture; null when CAPTURE_CACHE=0.</summary>
    public static KernelCache? FromEnvironment(string backend)
    {
        if (Environment.GetEnvironmentVariable("CAPTURE_CACHE") == "0") return null;
        var root = Environment.GetEnvironmentVariable("CAPTURE_CACHE_DIR") is { Length: > 0 } dir ? dir
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "capture");
        return new KernelCache(Path.Combine(root, backend));
    }

    public static string Key(string source, string salt) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(salt + "\n" + source)));

    private string PathOf(string key) => Path.Combine(Directory, key + ".bin");

    /// <summary>The image stored under <paramref name="key"/>, or null (missing or not valid: then removed).</summary>
    public byte[]? TryLoad(string key)
    {
        var path = PathOf(key);
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
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var temp = Path.Combine(Directory, $"{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            using (var file = File.Create(temp))
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

    /// <summary>Removes an entry that turned out unusable (a corrupt file, an image that does not load).</summary>
    public void Discard(string key)
    {
        try { File.Delete(PathOf(key)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
