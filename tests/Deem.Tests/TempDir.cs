namespace Deem.Tests;

/// <summary>A fresh temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() { Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "deem-test-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(Path); }
    public string Path { get; }
    public string this[string rel] => System.IO.Path.Combine(Path, rel);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
