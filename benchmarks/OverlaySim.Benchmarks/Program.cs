// OverlaySim benchmarks. `make bench` runs them all; `make bench BENCH_FILTER='*Queue*'` narrows them.
// Any BenchmarkDotNet option works after `--`, e.g. `--filter '*Chord*' --iterationCount 15`.
// `--cpu-clock` (ours, not BenchmarkDotNet's) times with the thread's CPU time instead of the wall clock: for
// shared machines, see ThreadCpuClock.
using BenchmarkDotNet.Running;
using OverlaySim.Benchmarks;

const string CpuClockOption = "--cpu-clock";
bool cpuClock = args.Contains(CpuClockOption);
string[] rest = args.Where(a => a != CpuClockOption).ToArray();
BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(rest, BenchConfig.Create(cpuClock));
