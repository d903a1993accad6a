using System.Runtime.InteropServices;
using System.Text;

namespace OverlaySim.Scenarios;

/// <summary>
/// Reads the files a scenario names (the scenario itself, a latency matrix, a churn trace) with bounds: only
/// regular files, at most <c>maxBytes</c> of them and <c>maxLine</c> characters a line. A FIFO, a device such
/// as <c>/dev/zero</c>, a directory, a dangling symbolic link or an unreadable file is refused with a message
/// naming the file (exit code 2) instead of a hang, a runaway or a bare runtime error.
/// </summary>
public static class InputFile
{
    /// <summary>The largest scenario file read: far above any hand-written scenario.</summary>
    public const long MaxScenarioBytes = 4L << 20;

    /// <summary>The largest latency matrix or churn trace file read.</summary>
    public const long MaxDataBytes = 2L << 30;

    /// <summary>The longest line of a matrix file: a row of about 50,000 hosts at 20 characters a value.</summary>
    public const int MaxMatrixLine = 1 << 20;

    /// <summary>The longest line of a trace file (a line holds three short fields).</summary>
    public const int MaxTraceLine = 4096;

    /// <summary>Fails unless <paramref name="path"/> is a regular file that can be opened for reading and is at most <paramref name="maxBytes"/> long.</summary>
    public static void Check(string path, string what, long maxBytes)
    {
        Origin at = new(path, 0, 0);
        switch (Kind(path, followLinks: true))
        {
            case FileKind.Missing:
                if (Kind(path, followLinks: false) == FileKind.Link)
                    throw new ScenarioException(at, $"{what} is a symbolic link to '{Diagnostic.Clip(SafeLinkTarget(path), 200)}', which does not exist");
                throw new ScenarioException(at, $"{what} not found");
            case FileKind.Directory:
                throw new ScenarioException(at, $"{what} is a folder, not a file");
            case FileKind.Special:
                throw new ScenarioException(at, $"{what} is not a regular file (a FIFO, socket or device cannot be read as input)");
        }
        long length;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            length = stream.Length;
        }
        catch (UnauthorizedAccessException)
        {
            throw new ScenarioException(at, $"{what} cannot be read (permission denied)");
        }
        catch (IOException e)
        {
            throw new ScenarioException(at, $"{what} cannot be read: {e.Message}");
        }
        if (length > maxBytes)
            throw new ScenarioException(at, $"{what} is {length:N0} bytes; the most OverlaySim reads is {maxBytes:N0}");
    }

    /// <summary>The whole file as text, after <see cref="Check"/>; reading stops with an error past <paramref name="maxBytes"/> even if the file grows.</summary>
    public static string ReadAllText(string path, string what, long maxBytes)
    {
        Check(path, what, maxBytes);
        var text = new StringBuilder();
        foreach ((string line, _) in Lines(path, what, maxBytes, int.MaxValue, keepNewlines: true)) text.Append(line);
        return text.ToString();
    }

    /// <summary>Lines with their 1-based numbers; a line longer than <paramref name="maxLine"/> characters is an error at that line.</summary>
    public static IEnumerable<(string Line, int Number)> ReadLines(string path, string what, long maxBytes, int maxLine)
    {
        Check(path, what, maxBytes);
        return Lines(path, what, maxBytes, maxLine, keepNewlines: false);
    }

    private static IEnumerable<(string Line, int Number)> Lines(string path, string what, long maxBytes, int maxLine, bool keepNewlines)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var line = new StringBuilder();
        var buffer = new char[1 << 16];
        int number = 1;
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (stream.Position > maxBytes)
                throw new ScenarioException(new Origin(path, number, 1), $"{what} grew past {maxBytes:N0} bytes while it was read");
            int start = 0;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] != '\n') continue;
                int end = keepNewlines ? i + 1 : (i > start && buffer[i - 1] == '\r' ? i - 1 : i);
                Append(line, buffer, start, end - start, path, what, number, maxLine);
                if (!keepNewlines && line.Length > 0 && line[^1] == '\r') line.Length--; // a CR LF split across reads
                yield return (line.ToString(), number);
                line.Clear();
                number++;
                start = i + 1;
            }
            Append(line, buffer, start, read - start, path, what, number, maxLine);
        }
        if (line.Length > 0)
        {
            if (!keepNewlines && line[^1] == '\r') line.Length--;
            yield return (line.ToString(), number);
        }
    }

    private static void Append(StringBuilder line, char[] buffer, int start, int count, string path, string what, int number, int maxLine)
    {
        if (line.Length + count > maxLine)
            throw new ScenarioException(new Origin(path, number, 1), $"line {number} of the {what} is longer than {maxLine:N0} characters");
        line.Append(buffer, start, count);
    }

    /// <summary>Whether anything, a dangling symbolic link included, is at <paramref name="path"/>.</summary>
    public static bool Exists(string path) => Kind(path, followLinks: false) != FileKind.Missing;

    private enum FileKind { Regular, Directory, Link, Special, Missing }

    /// <summary>The file's type by <c>statx</c> (Linux), or by what .NET can tell elsewhere.</summary>
    private static FileKind Kind(string path, bool followLinks)
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                Span<byte> buffer = stackalloc byte[256];
                const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
                const uint StatxType = 0x1;
                int rc = Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, ref MemoryMarshal.GetReference(buffer));
                if (rc != 0) return FileKind.Missing;
                // struct statx: stx_mode is the 16-bit field at byte 28, on every architecture.
                int mode = BitConverter.ToUInt16(buffer[28..30]) & 0xF000;
                return mode switch
                {
                    0x8000 => FileKind.Regular,
                    0x4000 => FileKind.Directory,
                    0xA000 => FileKind.Link,
                    _ => FileKind.Special,
                };
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // an old C library: fall through to what .NET can tell
            }
        }
        if (Directory.Exists(path)) return FileKind.Directory;
        if (!followLinks && new FileInfo(path).LinkTarget is not null) return FileKind.Link;
        return File.Exists(path) ? FileKind.Regular : FileKind.Missing;
    }

    private static string SafeLinkTarget(string path)
    {
        try { return new FileInfo(path).LinkTarget ?? "?"; }
        catch (IOException) { return "?"; }
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true, CharSet = CharSet.Ansi)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);
}
