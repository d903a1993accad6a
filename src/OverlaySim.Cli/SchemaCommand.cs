using System.CommandLine;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary><c>overlaysim schema</c>: the JSON Schema of scenario files (<see cref="ScenarioJsonSchema"/>), on stdout or into a file.</summary>
public static class SchemaCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "write it to this file (replaced whole) instead of stdout" };
        var command = new Command("schema",
            $"Print the JSON Schema of scenario files, for editors with a YAML language server (the shipped copy is {ScenarioJsonSchema.ShippedPath}; a scenario names it with a first line '# yaml-language-server: $schema=PATH').") { output };
        command.SetAction(parse =>
        {
            string text = ScenarioJsonSchema.Text();
            if (parse.GetValue(output) is not { } file)
            {
                Console.Out.Write(text);
                return ExitCodes.Ok;
            }
            var at = new Origin(file, 0, 0);
            string full = Path.GetFullPath(file);
            if (Directory.Exists(full)) throw new ScenarioException(at, "is a folder; name a file");
            try
            {
                CheckCommand.WriteAtomically(full, w => w.Write(text));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ScenarioException(at, $"could not be written: {e.Message}");
            }
            Console.Out.WriteLine($"wrote {full}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
