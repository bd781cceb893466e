namespace Deem.Tests;

/// <summary>The repository root: the first folder above the test binaries that holds DeemSharp.slnx.</summary>
internal static class RepositoryRoot
{
    static readonly Lazy<string> root = new(Find);

    public static string Path => root.Value;

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "DeemSharp.slnx"))) return dir.FullName;
        throw new InvalidOperationException("repository root (DeemSharp.slnx) not found above the test binaries in " + AppContext.BaseDirectory);
    }
}
