using System.Text;
using OverlaySim.Cli;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// Console redirection is process-global: every test that runs <see cref="Program.Main"/> (which prints) or
/// captures the console belongs to this collection, so that no two of them run at the same time.
/// </summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>What one in-process invocation of the command line did.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>The stderr lines that start with "error: ", without that prefix.</summary>
    public string[] Errors =>
        Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
             .Where(l => l.StartsWith("error: ", StringComparison.Ordinal))
             .Select(l => l["error: ".Length..])
             .ToArray();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}

public static class Cli
{
    private static readonly object Gate = new();

    /// <summary>Runs <c>overlaysim ARGS</c> in this process with stdout and stderr captured.</summary>
    public static CliResult Run(params string[] args)
    {
        lock (Gate)
        {
            TextWriter oldOut = Console.Out, oldError = Console.Error;
            var stdout = new StringWriter(new StringBuilder()) { NewLine = "\n" };
            var stderr = new StringWriter(new StringBuilder()) { NewLine = "\n" };
            Console.SetOut(stdout);
            Console.SetError(stderr);
            try
            {
                int exit = Program.Main(args);
                return new CliResult(exit, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldError);
            }
        }
    }
}

public static class ChildCli
{
    /// <summary>
    /// How to start the built CLI as a child process, both streams redirected: for what only a process of its own
    /// shows (signals, its heap limit, a run that must be killed if it hangs).
    /// </summary>
    public static System.Diagnostics.ProcessStartInfo Start(params string[] args) =>
        new("dotnet", [Path.Combine(AppContext.BaseDirectory, "overlaysim.dll"), .. args])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };

#pragma warning disable SYSLIB1054 // a blittable signature: DllImport needs no unsafe code in the test project
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    /// <summary>Sends signal <paramref name="signal"/> (2 SIGINT, 9 SIGKILL, 15 SIGTERM) to a child; true when kill(2) succeeded.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;
}

public static class Expect
{
    /// <summary>Like Assert.StartsWith, but shows both strings whole (temp paths are long).</summary>
    public static void StartsWith(string expected, string actual) =>
        Assert.True(actual.StartsWith(expected, StringComparison.Ordinal), $"expected a message starting with\n  {expected}\ngot\n  {actual}");
}
