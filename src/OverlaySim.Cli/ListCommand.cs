using System.CommandLine;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary><c>overlaysim list</c>: every overlay, latency model, workload option and metric, with parameters and defaults.</summary>
public static class ListCommand
{
    public static Command Create()
    {
        var command = new Command("list", "List the overlays, latency models, workload options and metrics, with their parameters, defaults and descriptions.");
        command.SetAction(_ =>
        {
            Print(Console.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static void Print(TextWriter o)
    {
        o.WriteLine("SCENARIO (top level)");
        Params(o, "", Schema.Top);

        o.WriteLine();
        o.WriteLine("OVERLAYS (overlays: - NAME: { parameters }; --set overlays.LABEL.PARAM=VALUE)");
        o.WriteLine("  every overlay also takes label = NAME: its name in the results and in --set paths; needed when an overlay appears twice");
        foreach (OverlayInfo overlay in OverlayRegistry.All)
        {
            o.WriteLine($"  {overlay.Name}: {overlay.Description}");
            o.WriteLine($"    {overlay.HopsDefinition}");
            Params(o, $"    overlays.{overlay.Name}.", overlay.Parameters);
        }

        o.WriteLine();
        o.WriteLine($"LATENCY MODELS (latency: {{ model: NAME, ... }}; default model: {Schema.LatencyModel.Default})");
        foreach (ModelInfo model in Schema.LatencyModels)
        {
            o.WriteLine($"  {model.Name}: {model.Formula}");
            Params(o, "    latency.", model.Parameters);
        }

        o.WriteLine();
        o.WriteLine($"CHURN MODELS (churn: {{ model: NAME, ... }}; default model: {Schema.ChurnModel.Default}; every model but none needs the run's duration)");
        foreach (ModelInfo model in Schema.ChurnModels)
        {
            o.WriteLine($"  {model.Name}: {model.Formula}");
            Params(o, "    churn.", model.Parameters);
        }

        o.WriteLine();
        o.WriteLine("WORKLOAD (workload: { ... })");
        Params(o, "  workload.", Schema.Workload);

        o.WriteLine();
        o.WriteLine("SWEEPS: sweep: { PATH: [v1, v2, ...], ... } runs the cartesian product; any parameter path above except name, description and replicates.");

        o.WriteLine();
        o.WriteLine("METRICS (columns of runs.csv; hops.csv holds the hop distribution per run)");
        foreach (var (column, definition) in Schema.Metrics) o.WriteLine($"  {column}: {definition}");
        o.WriteLine("  columns an overlay adds (empty for the others):");
        foreach (OverlayInfo overlay in OverlayRegistry.All)
            foreach (OverlayMetric metric in overlay.Metrics)
                o.WriteLine($"  {string.Join(", ", metric.Columns.Select(c => c.Name))} ({overlay.Name}): {metric.Description}");
    }

    private static void Params(TextWriter o, string prefix, IEnumerable<ParamSpec> specs)
    {
        foreach (ParamSpec p in specs)
        {
            string range = p.Kind is ParamKind.Text or ParamKind.File ? "" : $" [{p.RangeText}]";
            string only = p.Conditions is null ? "" : $" (only with {p.ConditionText})";
            o.WriteLine($"  {prefix}{p.Name} = {p.DefaultText}{range}{only}: {p.Description}");
        }
    }
}
