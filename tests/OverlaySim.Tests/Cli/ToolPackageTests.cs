using System.Diagnostics;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// The CLI as a .NET tool, installed as the README says: `dotnet pack` makes a tool package, `dotnet tool install`
/// takes it from a local folder with no other package source, and the installed command copies out the shipped
/// scenarios and runs them, the PlanetLab matrix included (the scenarios read it by a relative path).
/// </summary>
public class ToolPackageTests
{
    private static (int Exit, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Repository.Root };
        // The installed launcher finds .NET through DOTNET_ROOT: the one running these tests.
        start.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process p = Process.Start(start)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not end within 3 minutes");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void ThePackedToolInstallsFromALocalFolderAndRunsTheScenariosItCopiesOut()
    {
        using var dir = new TempFolder();
        string project = Path.Combine(Repository.Root, "src", "OverlaySim.Cli");
        // The configuration these tests were built in (the CLI beside them is that build): packed without building.
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        var (packed, packOutput) = Run("dotnet", "pack", project, "-c", configuration, "--no-build", "--nologo", "-o", dir["packages"]);
        Assert.True(packed == 0, packOutput);
        Assert.Single(Directory.GetFiles(dir["packages"], "OverlaySim.*.nupkg"));

        string config = dir.Write("nuget.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{dir["packages"]}" />
              </packageSources>
            </configuration>
            """);
        var (installed, installOutput) = Run("dotnet", "tool", "install", "OverlaySim", "--tool-path", dir["tools"], "--configfile", config);
        Assert.True(installed == 0, installOutput);
        string tool = Path.Combine(dir["tools"], "overlaysim");

        var (copied, copyOutput) = Run(tool, "examples", dir["examples"]);
        Assert.True(copied == 0, copyOutput);
        Assert.True(File.Exists(Path.Combine(dir["examples"], "scenarios", "quickstart.yaml")), copyOutput);
        Assert.True(File.Exists(Path.Combine(dir["examples"], "scenarios", "checks", "chord.yaml")), copyOutput);
        Assert.True(File.Exists(Path.Combine(dir["examples"], "data", "planetlab-490-rtt-ms.PROVENANCE.md")), copyOutput);

        // A scenario that reads the matrix by its path relative to the scenario, run from the copy.
        string scenario = Path.Combine(dir["examples"], "scenarios", "chord-planetlab.yaml");
        var (ran, runOutput) = Run(tool, "run", scenario, "--set", "nodes=200", "--set", "workload.lookups=500", "--out", dir["result"], "-q");
        Assert.True(ran == 0, runOutput);
        Assert.True(File.Exists(Path.Combine(dir["result"], "runs.csv")), runOutput);

        // The copy is never made over, or into, a folder that exists, empty or not; a trailing separator is fine.
        var (again, againOutput) = Run(tool, "examples", dir["examples"]);
        Assert.Equal(2, again);
        Assert.Contains("exists; name a new folder", againOutput);
        Directory.CreateDirectory(dir["empty"]);
        var (empty, emptyOutput) = Run(tool, "examples", dir["empty"]);
        Assert.Equal(2, empty);
        Assert.Empty(Directory.GetFileSystemEntries(dir["empty"]));
        var (slash, slashOutput) = Run(tool, "examples", dir["second"] + "/");
        Assert.True(slash == 0, slashOutput);
        Assert.True(File.Exists(Path.Combine(dir["second"], "schema", "scenario.schema.json")), slashOutput);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(dir.Path), e => Path.GetFileName(e).Contains(".examples-", StringComparison.Ordinal));
    }
}
