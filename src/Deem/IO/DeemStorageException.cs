namespace Deem.IO;

/// <summary>
/// A write the machine refused (disk full, read-only or missing folder): one line naming the folder.
/// The input was fine, but the user has to act (free space, another --out), so the CLI treats it as
/// it treats bad input.
/// </summary>
public sealed class DeemStorageException : DeemException
{
    public DeemStorageException(string folder, string message, Exception? inner = null)
        : base($"{folder}: {message}", inner) => Folder = folder;

    /// <summary>The folder that could not be written.</summary>
    public string Folder { get; }
}
