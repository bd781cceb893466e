namespace Deem;

/// <summary>
/// Base of every error DeemSharp raises on bad input. The message always names the file and the
/// field, key or tensor at fault, and what was expected versus found; the CLI prints it as one line.
/// </summary>
public class DeemException : Exception
{
    public DeemException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A malformed or unexpected file (safetensors, checkpoint, image, data record).</summary>
public class DeemFormatException : DeemException
{
    public DeemFormatException(string file, string message, string? key = null, Exception? inner = null)
        : base(Compose(file, key, message), inner)
    {
        File = file;
        Key = key;
    }

    /// <summary>The file at fault.</summary>
    public string File { get; }

    /// <summary>The tensor, field or record inside the file, when there is one.</summary>
    public string? Key { get; }

    static string Compose(string file, string? key, string message) =>
        key is null ? $"{file}: {message}" : $"{file}: '{key}': {message}";
}

/// <summary>An invalid configuration value (config.json, stage YAML, preset).</summary>
public class DeemConfigException : DeemException
{
    public DeemConfigException(string source, string field, string message, Exception? inner = null)
        : base($"{source}: field '{field}': {message}", inner)
    {
        Source = source;
        Field = field;
    }

    public new string Source { get; }
    public string Field { get; }
}
