using Deem.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Vision;

/// <summary>Outputs of <see cref="ImageEncoder"/>.</summary>
/// <param name="Tokens">[B, 1 + (H/16)(W/16), C]: CLS then the stage-3 adapted map, without positional embedding
/// (the perceiver adds <paramref name="TokenPosEmbed"/> after its <c>pos_proj</c>/<c>pos_ln</c>, reference §1.3 step 3).</param>
/// <param name="Maps">4 adapted maps [B, C, H/4…H/32, W/4…W/32] with the sin-cos table added (the MMFS inputs).</param>
/// <param name="TokenPosEmbed">[1 + (H/16)(W/16), C]: the sin-cos table for the tokens, zero CLS row first.</param>
public sealed record ImageEncoderOutput(Tensor Tokens, Tensor[] Maps, Tensor TokenPosEmbed);

/// <summary>
/// DEEM's image encoder, the "sniffer" (paper §2; reference §1.2 and §1.3 steps 1–2): CLIP
/// normalisation, the ConvNeXt trunk with linear adapters (<see cref="ConvNextAdapter"/>), and the
/// fixed 2-D sin-cos table (16×16 grid + zero CLS row, bicubically resized) added to each map.
/// <para>Module tree and keys, relative to DEEM's <c>visual_tokenizer.sniffer</c>
/// (<c>CLIPVisionAdapterModel</c> → <c>vision_model</c> = <c>CLIPVisionConvNextAdapter</c>):
/// <c>vision_model.adapter_c2..c5.{weight,bias}</c>, <c>vision_model.adapter_cls.{weight,bias}</c>,
/// <c>vision_model.visual.trunk.*</c> (= open_clip <c>visual.trunk.*</c>),
/// <c>vision_model.visual.head.mlp.fc1.{weight,bias}</c>, <c>vision_model.visual.head.mlp.fc2.weight</c>.
/// The CLIP mean/std and the sin-cos table are constants outside the state dict here (TorchSharp
/// 0.107 does not list non-persistent buffers, so they are plain tensors moved to the input's device
/// on use); in DEEM's checkpoint they live on the visual tokenizer (<c>visual_tokenizer.clip_mean</c>,
/// <c>clip_std</c>, <c>pos_embed</c>) and are deterministic, so nothing needs to be loaded for them.</para>
/// </summary>
public sealed class ImageEncoder : nn.Module<Tensor, ImageEncoderOutput>
{
    /// <summary>OpenAI CLIP pixel mean (RGB).</summary>
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary>OpenAI CLIP pixel standard deviation (RGB).</summary>
    public static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    private readonly ConvNextAdapter vision_model;
    private readonly VisionEncoderConfig config;
    private readonly Tensor posTable;          // [1 + G·G, C] on the construction device
    private Tensor posTableOnDevice;           // the same, on the device of the last input

    /// <param name="config">Encoder shape.</param>
    /// <param name="generator">Source of the trunk's stochastic-depth draws; global RNG when null.</param>
    public ImageEncoder(VisionEncoderConfig config, Generator? generator = null) : base(nameof(ImageEncoder))
    {
        config.Validate(nameof(VisionEncoderConfig));
        if (config.ClipNormalize && config.Trunk.InChans != 3)
            throw new DeemConfigException(nameof(VisionEncoderConfig), "clip_normalize", $"CLIP normalisation needs 3 input channels, found {config.Trunk.InChans}");
        this.config = config;
        vision_model = new ConvNextAdapter(config, generator);
        RegisterComponents();
        // Assigned after RegisterComponents so it stays out of the state dict. A constant, not state: an encoder
        // built on the meta device (to be loaded) makes it on the CPU, as no checkpoint fills it.
        var device = get_default_device();
        if (device.type == DeviceType.META) set_default_device(CPU);
        try { posTable = SinCosPositionEmbedding.Table(config.EmbedDim, config.PosEmbedGrid, clsToken: true); }
        finally { set_default_device(device); }
        posTableOnDevice = posTable;
    }

    /// <summary>Encoder shape this module was built with.</summary>
    public VisionEncoderConfig Config => config;

    /// <summary>DEEM's <c>vision_model</c> (adapters + open_clip tower).</summary>
    public ConvNextAdapter VisionModel => vision_model;

    /// <summary>The ConvNeXt trunk.</summary>
    public ConvNext Trunk => vision_model.Visual.Trunk;

    /// <summary>The fixed sin-cos table [1 + G·G, C] (zero CLS row first).</summary>
    public Tensor PosEmbed => posTable;

    /// <summary>Input pixels must be a multiple of this (the trunk's total stride).</summary>
    public int Stride => config.Trunk.PatchSize * 8;

    /// <param name="images">[B, 3, H, W] RGB in [0, 1] (H, W multiples of <see cref="Stride"/>); never modified.</param>
    public override ImageEncoderOutput forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        CheckImages(images);
        // Out of place: a new tensor, the caller's images stay as they were. (The authors' diffusion
        // wrapper normalises its image argument in place, which corrupts later users of the same
        // tensor, reference §0 item 12; nothing here writes into an input.)
        Tensor x = images;
        if (config.ClipNormalize)
        {
            var mean = tensor(ClipMean, dtype: images.dtype, device: images.device).reshape(1, 3, 1, 1);
            var std = tensor(ClipStd, dtype: images.dtype, device: images.device).reshape(1, 3, 1, 1);
            x = images.sub(mean).div(std);                                    // [B, 3, H, W]
        }
        var adapted = vision_model.forward(x);
        var table = TableOn(images.device);
        var maps = new Tensor[4];
        for (var i = 0; i < 4; i++)
        {
            var m = adapted.Maps[i];
            var (h, w) = (m.shape[2], m.shape[3]);
            var pe = SinCosPositionEmbedding.ForMap(table, h, w).to(m.dtype);  // [C, h, w]
            maps[i] = m.add(pe.unsqueeze(0)).MoveToOuterDisposeScope();       // [B, C, h, w]
        }
        var grid = adapted.Maps[2];
        var tokenPe = SinCosPositionEmbedding.ForTokens(table, grid.shape[2], grid.shape[3])
            .to(adapted.Tokens.dtype);                                         // [1 + h·w, C]
        return new ImageEncoderOutput(
            adapted.Tokens.MoveToOuterDisposeScope(), maps, tokenPe.MoveToOuterDisposeScope());
    }

    private void CheckImages(Tensor images)
    {
        var c = config.Trunk.InChans;
        if (images.ndim != 4 || images.shape[1] != c || images.shape[2] % Stride != 0 || images.shape[3] % Stride != 0
            || images.shape[2] == 0 || images.shape[3] == 0)
            throw new ArgumentException(
                $"ImageEncoder: expected images [B, {c}, H, W] with H, W positive multiples of {Stride}, found [{string.Join(", ", images.shape)}]",
                nameof(images));
    }

    private Tensor TableOn(Device device)
    {
        if (posTableOnDevice.device_type != device.type || posTableOnDevice.device_index != device.index)
        {
            var moved = posTable.to(device).DetachFromDisposeScope();
            if (!ReferenceEquals(posTableOnDevice, posTable)) posTableOnDevice.Dispose();
            posTableOnDevice = moved;
        }
        return posTableOnDevice;
    }
}
