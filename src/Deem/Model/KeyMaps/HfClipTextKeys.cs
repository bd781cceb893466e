using static TorchSharp.torch;

namespace Deem.Model;

/// <summary>
/// Key mapping between an open_clip text tower and HF transformers' <c>CLIPTextModel</c>, the layout of a
/// diffusers <c>text_encoder/</c> folder (how SD 2 ships OpenCLIP-H's tower, reference §1.9): the fused
/// <c>in_proj</c> splits into <c>q_proj</c>/<c>k_proj</c>/<c>v_proj</c>, <c>ln_1/ln_2</c> become
/// <c>layer_norm1/2</c>, <c>c_fc/c_proj</c> become <c>fc1/fc2</c>; <c>text_projection</c> is not part of a
/// <c>CLIPTextModel</c> and is dropped.
/// </summary>
public static class HfClipTextKeys
{
    const string Enc = "text_model.encoder.layers.";

    /// <summary>HF <c>CLIPTextModel</c> tensors of an open_clip-keyed text state dict (tensors are shared or split views).</summary>
    public static Dictionary<string, Tensor> ToHf(IReadOnlyDictionary<string, Tensor> openClip, int layers)
    {
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["text_model.embeddings.token_embedding.weight"] = openClip["token_embedding.weight"],
            ["text_model.embeddings.position_embedding.weight"] = openClip["positional_embedding"],
            ["text_model.final_layer_norm.weight"] = openClip["ln_final.weight"],
            ["text_model.final_layer_norm.bias"] = openClip["ln_final.bias"],
        };
        for (var i = 0; i < layers; i++)
        {
            var (src, dst) = ($"transformer.resblocks.{i}.", $"{Enc}{i}.");
            var w = openClip[src + "attn.in_proj_weight"].chunk(3, 0);
            var b = openClip[src + "attn.in_proj_bias"].chunk(3, 0);
            string[] qkv = ["q_proj", "k_proj", "v_proj"];
            for (var k = 0; k < 3; k++)
            {
                r[$"{dst}self_attn.{qkv[k]}.weight"] = w[k];
                r[$"{dst}self_attn.{qkv[k]}.bias"] = b[k];
            }
            foreach (var (a, h) in Renames)
            {
                r[$"{dst}{h}.weight"] = openClip[$"{src}{a}.weight"];
                r[$"{dst}{h}.bias"] = openClip[$"{src}{a}.bias"];
            }
        }
        return r;
    }

    /// <summary>
    /// Reads HF <c>CLIPTextModel</c> tensors back into open_clip keys (no projection). Every tensor a
    /// <paramref name="layers"/>-layer tower needs must be present; anything else except the
    /// <c>position_ids</c> buffer is an unexpected key. Errors name the file and the HF key.
    /// </summary>
    public static Dictionary<string, Tensor> FromHf(IReadOnlyDictionary<string, Tensor> hf, int layers, string source)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        Tensor Get(string key)
        {
            if (!hf.TryGetValue(key, out var t)) throw new DeemFormatException(source, "missing text-encoder tensor", key);
            used.Add(key);
            return t;
        }
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["token_embedding.weight"] = Get("text_model.embeddings.token_embedding.weight"),
            ["positional_embedding"] = Get("text_model.embeddings.position_embedding.weight"),
            ["ln_final.weight"] = Get("text_model.final_layer_norm.weight"),
            ["ln_final.bias"] = Get("text_model.final_layer_norm.bias"),
        };
        for (var i = 0; i < layers; i++)
        {
            var (dst, src) = ($"transformer.resblocks.{i}.", $"{Enc}{i}.");
            r[dst + "attn.in_proj_weight"] = cat(new[] { "q_proj", "k_proj", "v_proj" }.Select(p => Get($"{src}self_attn.{p}.weight")).ToArray(), 0);
            r[dst + "attn.in_proj_bias"] = cat(new[] { "q_proj", "k_proj", "v_proj" }.Select(p => Get($"{src}self_attn.{p}.bias")).ToArray(), 0);
            foreach (var (a, h) in Renames)
            {
                r[$"{dst}{a}.weight"] = Get($"{src}{h}.weight");
                r[$"{dst}{a}.bias"] = Get($"{src}{h}.bias");
            }
        }
        var extra = hf.Keys.Where(k => !used.Contains(k) && k != "text_model.embeddings.position_ids").OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (extra.Count > 0)
            throw new DeemFormatException(source, $"unexpected text-encoder tensors ({extra.Count}): {string.Join(", ", extra)}", extra[0]);
        return r;
    }

    static readonly (string OpenClip, string Hf)[] Renames =
    [
        ("attn.out_proj", "self_attn.out_proj"),
        ("ln_1", "layer_norm1"),
        ("ln_2", "layer_norm2"),
        ("mlp.c_fc", "mlp.fc1"),
        ("mlp.c_proj", "mlp.fc2"),
    ];
}
