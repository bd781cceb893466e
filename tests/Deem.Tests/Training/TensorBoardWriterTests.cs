using System.Buffers.Binary;
using System.Text;
using Deem.Tests.Data;
using Deem.Training;

namespace Deem.Tests.Training;

public class TensorBoardWriterTests
{
    [Fact]
    public void Crc32CMatchesTheStandardCheckValue()
    {
        // CRC-32C check value of "123456789" (RFC 3720 / the Castagnoli catalogue entry).
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, TensorBoardWriter.Crc32C([]));
    }

    [Fact]
    public void EventsAreFramedTfRecordsThatTensorBoardsProtobufReads()
    {
        using var dir = new TempDir();
        string path;
        using (var w = new TensorBoardWriter(dir.Path))
        {
            w.AddScalars(7, [("loss/total", 1.5), ("loss/ntp", 0.25)], wallTime: 1_700_000_000.5);
            w.AddScalars(3_000_000_000L, [("train/lr", 1e-4)]);
            path = w.Path;
        }
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(path));

        var bytes = File.ReadAllBytes(path);
        var records = new List<byte[]>();
        for (int at = 0; at < bytes.Length;)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(TensorBoardWriter.MaskedCrc(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var data = bytes.AsSpan(at + 12, (int)length).ToArray();
            Assert.Equal(TensorBoardWriter.MaskedCrc(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            records.Add(data);
            at += 16 + (int)length;
        }
        Assert.Equal(3, records.Count);

        // Decoded with the Event message TorchSharp generated from TensorFlow's event.proto.
        var events = records.Select(r => Tensorboard.Event.Parser.ParseFrom(r)).ToList();
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.InRange(events[0].WallTime, 1.6e9, 4e9);                                   // seconds since 1970, not ticks
        Assert.Equal(7, events[1].Step);
        Assert.Equal(1_700_000_000.5, events[1].WallTime);
        Assert.Equal(new[] { ("loss/total", 1.5f), ("loss/ntp", 0.25f) }, events[1].Summary.Value.Select(v => (v.Tag, v.SimpleValue)));
        Assert.Equal(3_000_000_000L, events[2].Step);
        Assert.Equal(1e-4f, events[2].Summary.Value.Single().SimpleValue);
    }
}
