using System.Text.Json.Nodes;

namespace Deem.Serve;

/// <summary>
/// A failed request in OpenAI's error shape: <c>{"error": {"message", "type", "param", "code"}}</c> with
/// its HTTP status. Every failure of the server (bad JSON, a field of the wrong type, an undecodable
/// image, a full queue, a model not loaded yet) is one of these.
/// </summary>
public sealed class ApiException(int status, string message, string type, string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>400: the request is wrong; <paramref name="param"/> names the field.</summary>
    public static ApiException BadRequest(string message, string? param = null, string? code = null) =>
        new(400, message, "invalid_request_error", param, code);

    public static ApiException NotFound(string message, string? code = "not_found", string? param = null) =>
        new(404, message, "invalid_request_error", param, code);

    public static ApiException TooLarge(long limit) =>
        new(413, $"the request body is larger than the server's limit of {limit} bytes (--max-body-bytes)", "invalid_request_error", null, "request_too_large");

    public static ApiException QueueFull(int limit) =>
        new(429, $"the server's queue is full ({limit} waiting requests, --max-queue); retry later", "rate_limit_error", null, "queue_full");

    public static ApiException NotReady(string message) =>
        new(503, message, "server_error", null, "model_not_ready");

    /// <summary>The error body.</summary>
    public JsonObject Body() => ErrorBody(Message, Type, Param, Code);

    public static JsonObject ErrorBody(string message, string type, string? param, string? code) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = message,
            ["type"] = type,
            ["param"] = param,
            ["code"] = code,
        },
    };
}
