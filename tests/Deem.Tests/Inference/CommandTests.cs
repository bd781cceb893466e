using System.CommandLine;
using Deem.Cli;
using Deem.Inference;
using Deem.Model;
using static TorchSharp.torch;

namespace Deem.Tests.Inference;

/// <summary>The inference commands run in-process: answers on success, one-line errors and exit 2 on bad input.
/// Not in parallel: ask and chat load through the meta device, which switches the process's default device.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class CommandTests
{
    static (int Code, string Out, string Err) Run(Command command, params string[] args)
    {
        var root = new RootCommand { command };
        var output = new StringWriter();
        var error = new StringWriter();
        int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void AnUnknownModelFolderIsNamedAndExitsNonZero()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-deem-model-" + Guid.NewGuid().ToString("N")[..6]);
        foreach (var (cmd, args) in new (Command, string[])[]
                 {
                     (AskCommand.Create(), ["ask", "--model", missing, "what?"]),
                     (GenerateCommand.Create(), ["generate", "--model", missing, "--out", "x.png", "a red square"]),
                     (ChatCommand.Create(new StringReader("/quit\n")), ["chat", "--model", missing]),
                 })
        {
            var (code, _, err) = Run(cmd, args);
            Assert.Equal(2, code);
            Assert.Contains(missing, err);
            Assert.Single(err.Trim().Split('\n'));
        }
    }

    [Fact]
    public void AskAnswersAndNamesBadImagesMasksAndLongPrompts()
    {
        using var scope = NewDisposeScope();
        var dir = InferenceFixtures.TempDir();
        var (config, tokenizer) = InferenceFixtures.WithTokenizer();
        using (var model = InferenceFixtures.Model(1, config: config))
            DeemCheckpoint.Save(Path.Combine(dir, "model"), model, tokenizer);
        var modelDir = Path.Combine(dir, "model");
        var png = Path.Combine(dir, "a.png");
        ImageOutputs.SavePng(rand(3, 40, 40), png);

        var ok = Run(AskCommand.Create(), "ask", "--model", modelDir, "--image", png, "--max-new-tokens", "3", "What is it?");
        Assert.Equal(0, ok.Code);
        Assert.Equal("", ok.Err);
        Assert.Single(ok.Out.TrimEnd('\n').Split('\n'));

        var corrupt = Path.Combine(dir, "broken.png");
        File.WriteAllText(corrupt, "not a png");
        var bad = Run(AskCommand.Create(), "ask", "--model", modelDir, "--image", corrupt, "What is it?");
        Assert.Equal(2, bad.Code);
        Assert.Contains(corrupt, bad.Err);

        var missingImage = Run(AskCommand.Create(), "ask", "--model", modelDir, "--image", Path.Combine(dir, "gone.png"), "What?");
        Assert.Equal(2, missingImage.Code);
        Assert.Contains("gone.png", missingImage.Err);

        var cube = Path.Combine(dir, "cube.json");
        File.WriteAllText(cube, "{\"size\": [2, 2, 2], \"counts\": [8]}");
        var badMask = Run(AskCommand.Create(), "ask", "--model", modelDir, "--image", png, "--mask", cube, "What?");
        Assert.Equal(2, badMask.Code);
        Assert.Contains(cube, badMask.Err);

        var tooLong = Run(AskCommand.Create(), "ask", "--model", modelDir, "--image", png, "--max-context", "20", "What is it?");
        Assert.Equal(2, tooLong.Code);
        Assert.Contains("context of 20", tooLong.Err);

        var chat = Run(ChatCommand.Create(new StringReader($"/image {corrupt}\n/image {png}\nWhat is it?\n/reset\n/quit\n")),
            "chat", "--model", modelDir, "--max-new-tokens", "3");
        Assert.Equal(0, chat.Code);
        Assert.Contains(corrupt, chat.Err);
        Assert.Contains("(history cleared)", chat.Out);
        Directory.Delete(dir, true);
    }
}
