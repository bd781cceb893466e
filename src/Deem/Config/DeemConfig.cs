using System.Text.Json.Serialization;
using Deem.Text;

namespace Deem.Config;

/// <summary>
/// The whole DEEM system (paper §2.1, Fig. 2; reference §1): image encoder → visual Q-Former →
/// LLaMA with gated MMFS cross-attention → text head and image decoder → SD UNet + VAE + MMFSNet.
/// Each component keeps its own record, read from that component's published config.json; this
/// record composes them, fixes the widths that must agree, and carries the loss weights λ (Eq. 5
/// context). It is written as <c>deem_config.json</c> in every model folder.
/// </summary>
public sealed record DeemConfig
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";

    /// <summary>"deem" (MMFS + image generation) or "llava" (paper Table 5: MLP projector into a plain LLaMA).</summary>
    [JsonPropertyName("arch")] public string Arch { get; init; } = "deem";

    [JsonPropertyName("vision")] public VisionEncoderConfig Vision { get; init; } = VisionEncoderConfig.Paper;
    [JsonPropertyName("perceiver")] public QFormerConfig Perceiver { get; init; } = QFormerConfig.VisualPaper;
    [JsonPropertyName("llm")] public LlamaConfig Llm { get; init; } = LlamaConfig.Paper7B;
    /// <summary>The LLM's MMFS cross-attention (every <c>cross_attention_frequency</c>-th layer).</summary>
    [JsonPropertyName("llm_mmfs")] public MmfsConfig LlmMmfs { get; init; } = MmfsConfig.LlmPaper7B;
    [JsonPropertyName("image_decoder")] public ImageDecoderConfig ImageDecoder { get; init; } = ImageDecoderConfig.Paper7B;
    [JsonPropertyName("unet")] public UNetConfig UNet { get; init; } = UNetConfig.Sd21Base;
    [JsonPropertyName("vae")] public VaeConfig Vae { get; init; } = VaeConfig.Sd21Base;
    [JsonPropertyName("scheduler")] public SchedulerConfig Scheduler { get; init; } = SchedulerConfig.Sd21Base;
    [JsonPropertyName("mmfs_net")] public MmfsConfig MmfsNet { get; init; } = MmfsConfig.MmfsNetPaper;

    /// <summary>Size of the text vocabulary before the 6 DEEM tokens (32000 for Vicuna).</summary>
    [JsonPropertyName("base_vocab_size")] public int BaseVocabSize { get; init; } = 32000;
    [JsonPropertyName("encoder_resolution")] public int EncoderResolution { get; init; } = 256;
    [JsonPropertyName("decoder_resolution")] public int DecoderResolution { get; init; } = 512;

    /// <summary>Build the SD UNet/VAE/MMFSNet (NIP, CSR, image generation). The stage-3 config has none.</summary>
    [JsonPropertyName("build_diffusion")] public bool BuildDiffusion { get; init; } = true;
    /// <summary>Build the mask-aware extractor (stage 3, reference §1.10).</summary>
    [JsonPropertyName("mask_align")] public bool MaskAlign { get; init; }

    [JsonPropertyName("ntp_weight")] public double NtpWeight { get; init; } = 1.0;
    [JsonPropertyName("nip_weight")] public double NipWeight { get; init; } = 5.0;
    [JsonPropertyName("csr_weight")] public double CsrWeight { get; init; } = 5.0;

    /// <summary>The special-token ids (bos/eos/pad from the LLM config, the 6 new tokens after the base vocabulary).</summary>
    [JsonIgnore] public SpecialTokens Tokens => new(Llm.BosTokenId, Llm.EosTokenId, Llm.PadTokenId ?? throw new DeemConfigException(Name, "llm.pad_token_id", "DEEM needs a pad id (31999 for Vicuna)"), BaseVocabSize);

    /// <summary>True for the LLaVA-style variant of paper Table 5 (no MMFS, no image generation).</summary>
    [JsonIgnore] public bool IsLlava => Arch == "llava";

    /// <summary>
    /// Image placeholder tokens per image: the visual Q-Former's query count (77 in the paper); for
    /// the LLaVA-style variant, the encoder's CLS + stage-3 tokens, 1 + (res/16)².
    /// </summary>
    [JsonIgnore] public int ImageTokens => IsLlava
        ? 1 + (EncoderResolution / 16) * (EncoderResolution / 16)
        : (int)Perceiver.NumQueries;

    /// <summary>Side of the VAE latent (decoder resolution / VAE downsampling).</summary>
    [JsonIgnore] public int LatentSide => DecoderResolution / Vae.DownsampleFactor;

    /// <summary>
    /// The paper's system (reference §1.1, §1.11): CLIP-ConvNeXt-B at 256 px, 77×768 visual Q-Former,
    /// Vicuna-7B v1.5 with 8 MMFS layers, 77×1024 decoder Q-Former, SD-2.1-base at 512 px with MMFSNet.
    /// </summary>
    public static DeemConfig Paper7B => new() { Name = "paper-7b" };

    /// <summary>
    /// A DEEM that trains on 2 CPU cores in minutes (e.g. on the built-in world): 64-px images, ConvNeXt
    /// dims ≤ 64, a 4-layer 128-wide LLaMA, a UNet of 32/64 channels, 16 perceiver queries; sized to a
    /// tokenizer (vocabulary size and bos/eos/pad ids).
    /// </summary>
    public static DeemConfig TinyFor(SpecialTokens tokens)
    {
        const int llmWidth = 128, visionWidth = 64, condWidth = 64;
        return new DeemConfig
        {
            Name = "tiny",
            Vision = VisionEncoderConfig.Tiny,
            Perceiver = QFormerConfig.TinyVisual,
            Llm = LlamaConfig.Tiny with
            {
                VocabSize = tokens.VocabSize, BosTokenId = tokens.Bos, EosTokenId = tokens.Eos, PadTokenId = tokens.Pad,
            },
            LlmMmfs = MmfsConfig.LlmTiny with { DModel = llmWidth, DQuery = llmWidth, DOut = llmWidth, DValue = visionWidth },
            ImageDecoder = ImageDecoderConfig.Tiny with
            {
                PerceiverConfig = QFormerConfig.TinyDecoder with { EncoderHiddenSize = llmWidth, HiddenSize = condWidth },
            },
            UNet = UNetConfig.Tiny with { CrossAttentionDim = condWidth },
            Vae = VaeConfig.Tiny,
            Scheduler = SchedulerConfig.Tiny,
            MmfsNet = MmfsConfig.MmfsNetTiny with { DValue = visionWidth, NLevels = 4, SpatialShapes = [16, 8, 4, 2] },
            BaseVocabSize = tokens.BaseVocabSize,
            EncoderResolution = 64,
            DecoderResolution = 64,
        };
    }

    /// <summary>
    /// The LLaVA-style variant of paper Table 5 at tiny scale: the same encoder, a 2-layer MLP
    /// projector over its tokens into a plain LLaMA (no MMFS, no image generation); CSR still
    /// conditions the frozen UNet on proj_i(perceiver(encoder)).
    /// </summary>
    public static DeemConfig TinyLlavaFor(SpecialTokens tokens) => TinyFor(tokens) with { Name = "tiny-llava", Arch = "llava" };

    /// <summary>The paper-scale LLaVA-style variant (Table 5).</summary>
    public static DeemConfig Paper7BLlava => Paper7B with { Name = "paper-7b-llava", Arch = "llava" };

    /// <summary>Names accepted by <see cref="Preset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "tiny-llava", "paper-7b", "paper-7b-llava"];

    /// <summary>
    /// Named presets: "tiny", "tiny-llava", "paper-7b", "paper-7b-llava". The tiny ones are sized to a
    /// tokenizer, so they need its <paramref name="tokens"/>; the paper's use Vicuna's (<see cref="SpecialTokens.Paper"/>).
    /// </summary>
    public static DeemConfig Preset(string name, SpecialTokens? tokens = null) => name switch
    {
        "tiny" or "tiny-llava" when tokens is null =>
            throw new DeemConfigException("--preset", "preset", $"'{name}' is sized to a tokenizer; give its special tokens"),
        "tiny" => TinyFor(tokens!),
        "tiny-llava" => TinyLlavaFor(tokens!),
        "paper-7b" => Paper7B,
        "paper-7b-llava" => Paper7BLlava,
        _ => throw new DeemConfigException("--preset", "preset", $"unknown preset '{name}' (presets: {string.Join(", ", PresetNames)})"),
    };

    /// <summary>Checks each component and that the widths joining them agree.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string message) { if (!ok) throw new DeemConfigException(source, field, message); }
        Require(Arch is "deem" or "llava", "arch", $"must be 'deem' or 'llava', found '{Arch}'");
        Require(BaseVocabSize > 0, "base_vocab_size", $"must be positive, found {BaseVocabSize}");
        Vision.Validate(source + ":vision");
        Perceiver.Validate(source + ":perceiver");
        Llm.Validate(source + ":llm");
        Require(Perceiver.EncoderHiddenSize == Vision.EmbedDim, "perceiver.encoder_hidden_size",
            $"must equal vision.image_embed_dim = {Vision.EmbedDim}, found {Perceiver.EncoderHiddenSize}");
        Require(Llm.VocabSize == BaseVocabSize + SpecialTokens.NewTokenCount, "llm.vocab_size",
            $"must be base_vocab_size + {SpecialTokens.NewTokenCount} = {BaseVocabSize + SpecialTokens.NewTokenCount}, found {Llm.VocabSize}");
        Require(EncoderResolution is >= 32 and <= MaxResolution && EncoderResolution % 32 == 0, "encoder_resolution",
            $"must be a multiple of 32 in [32, {MaxResolution}], found {EncoderResolution}");
        Require(DecoderResolution is > 0 and <= MaxResolution, "decoder_resolution", $"must be in [1, {MaxResolution}], found {DecoderResolution}");
        if (!IsLlava)
        {
            LlmMmfs.Validate(source + ":llm_mmfs");
            Require(LlmMmfs.DModel == Llm.HiddenSize && LlmMmfs.DQuery == Llm.HiddenSize && LlmMmfs.DOut == Llm.HiddenSize,
                "llm_mmfs.d_model", $"d_model, d_query and d_out must equal llm.hidden_size = {Llm.HiddenSize}");
            Require(LlmMmfs.DValue == Vision.EmbedDim, "llm_mmfs.d_value", $"must equal vision.image_embed_dim = {Vision.EmbedDim}, found {LlmMmfs.DValue}");
            Require(LlmMmfs.NLevels <= 4, "llm_mmfs.n_levels", $"the encoder has 4 maps, found {LlmMmfs.NLevels} levels");
        }
        if (BuildDiffusion)
        {
            UNet.Validate(source + ":unet");
            Vae.Validate(source + ":vae");
            MmfsNet.Validate(source + ":mmfs_net");
            Require(UNet.InChannels == Vae.LatentChannels, "unet.in_channels", $"must equal vae.latent_channels = {Vae.LatentChannels}");
            Require(MmfsNet.DValue == Vision.EmbedDim, "mmfs_net.d_value", $"must equal vision.image_embed_dim = {Vision.EmbedDim}, found {MmfsNet.DValue}");
            Require(MmfsNet.NLevels == 4, "mmfs_net.n_levels", $"MMFSNet reads all 4 encoder maps, found {MmfsNet.NLevels}");
            Require(DecoderResolution % Vae.DownsampleFactor == 0, "decoder_resolution",
                $"must be a multiple of the VAE downsampling {Vae.DownsampleFactor}, found {DecoderResolution}");
        }
        if (BuildDiffusion && !IsLlava)
        {
            var dec = ImageDecoder.PerceiverConfig;
            Require(dec.EncoderHiddenSize == Llm.HiddenSize, "image_decoder.perceiver_config.encoder_hidden_size",
                $"must equal llm.hidden_size = {Llm.HiddenSize}, found {dec.EncoderHiddenSize}");
            Require(dec.HiddenSize == UNet.CrossAttentionDim, "image_decoder.perceiver_config.hidden_size",
                $"must equal unet.cross_attention_dim = {UNet.CrossAttentionDim}, found {dec.HiddenSize}");
            Require(ImageDecoder.MaxContextLen >= 2, "image_decoder.max_context_len", "must be at least 2");
        }
        Require(NtpWeight >= 0 && NipWeight >= 0 && CsrWeight >= 0 && double.IsFinite(NtpWeight + NipWeight + CsrWeight),
            "ntp_weight/nip_weight/csr_weight", "loss weights must be finite and >= 0");
    }

    /// <summary>Largest encoder or decoder side accepted (the paper uses 256/448 and 512).</summary>
    public const int MaxResolution = 1024;

    /// <summary>
    /// Reads <c>deem_config.json</c>: every field is required (a missing or null one is an error naming it,
    /// see <see cref="ConfigJson.LoadComplete{T}"/>), unknown keys are ignored, bad values name the file and field.
    /// </summary>
    public static DeemConfig Load(string path)
    {
        var c = ConfigJson.LoadComplete<DeemConfig>(path);
        c.Validate(path);
        return c;
    }

    public void Save(string path) => ConfigJson.Save(this, path);
}
