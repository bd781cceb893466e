using Deem.World;
using Deem.Inference;
using Deem.Model;
using Deem.Serve;
using Deem.Tests.Inference;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Deem.Tests.Serve;

/// <summary>The in-process <see cref="IChatClient"/>: the chat CLI's prompt and decoding, seeded streaming, images, usage.</summary>
public class DeemChatClientTests
{
    [Fact]
    public async Task AnswersAsTheChatCommandStreamsTheSameAndCountsImages()
    {
        var dir = InferenceFixtures.TempDir();
        RandomModelFolder.Write(dir, "tiny", seed: 3, WorldTokenizer.Default);
        using IChatClient client = DeemChatClient.Load(dir);
        var question = new ChatMessage(ChatRole.User, "What is in the picture?");

        var greedy = await client.GetResponseAsync([question], new ChatOptions { Temperature = 0, MaxOutputTokens = 6 });
        using (var pipeline = DeemPipeline.Load(dir))
        {
            var chat = pipeline.Chat(GenerationOptions.Greedy(6));
            Assert.Equal(string.Concat(chat.Send("What is in the picture?")).Trim(), greedy.Text.Trim());
        }
        Assert.Equal(ChatRole.Assistant, greedy.Messages.Single().Role);
        Assert.InRange(greedy.Usage!.OutputTokenCount!.Value, 0, 6);
        Assert.Equal(greedy.FinishReason == ChatFinishReason.Length, greedy.Usage.OutputTokenCount == 6);

        var sampled = new ChatOptions { Temperature = 0.9f, TopP = 0.95f, Seed = 42, MaxOutputTokens = 10 };
        var whole = await client.GetResponseAsync([question], sampled);
        var joined = "";
        await foreach (var update in client.GetStreamingResponseAsync([question], sampled)) joined += update.Text;
        Assert.Equal(whole.Text, joined);

        string png;
        using (var red = zeros(3, 20, 20)) png = Convert.ToBase64String(ImageOutputs.Png(red));
        var withImage = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(Convert.FromBase64String(png), "image/png"), new TextContent("What is in the picture?")])],
            new ChatOptions { Temperature = 0, MaxOutputTokens = 2 });
        var config = Deem.Config.DeemConfig.Load(Path.Combine(dir, DeemCheckpoint.ConfigFile));
        Assert.Equal(whole.Usage!.InputTokenCount + config.ImageTokens + 1, withImage.Usage!.InputTokenCount);
        Assert.Equal("deemsharp", client.GetService<ChatClientMetadata>()!.ProviderName);
    }
}
