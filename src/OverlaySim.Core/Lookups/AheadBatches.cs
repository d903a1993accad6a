namespace OverlaySim.Core;

/// <summary>
/// The lookups an overlay was told of (<see cref="ILookupPlanner.Plan"/>) and what it found for them, one batch per
/// call, begun in order. Where there is a second core a batch is routed on another thread while the lookups before it
/// are simulated, and the simulating thread takes a share of it when it would otherwise wait: the batch is cut into
/// chunks of <see cref="ChunkSize"/> that each thread claims in turn. Routing may only read what nothing changes in
/// such a run (<see cref="Network.RoutesAhead"/>: the routing state, the latency model) and write its chunk's routes
/// and loads, into state of its own thread (<c>worker</c> 0 is the simulating thread, 1 the other). The loads of a
/// chunk's measured messages are added when its batch's first lookup begins: loads are sums, so which thread found them
/// and when they are added does not change them, and the results are the same bytes with one core or two
/// (DeterminismTests.TheNumberOfCoresDoesNotChangeTheResults).
/// </summary>
/// <typeparam name="TRoute">What the overlay found for one lookup.</typeparam>
public sealed class AheadBatches<TRoute> where TRoute : struct
{
    /// <summary>Lookups a thread claims at once from a batch being routed.</summary>
    public const int ChunkSize = 64;

    /// <summary>Whether batches are routed on another thread: only with a second core to run it.</summary>
    public static readonly bool RoutesElsewhere = Environment.ProcessorCount >= 2;

    /// <summary>Routes lookups [<paramref name="from"/>, <paramref name="to"/>) of a batch into its routes, with the machines of their measured messages in <paramref name="loads"/>.</summary>
    public delegate void RouteChunk(Batch batch, int from, int to, LoadList loads, int worker);

    /// <summary>One call's lookups and their routes.</summary>
    public sealed class Batch
    {
        private PlannedLookup[] _lookups = [];
        private TRoute[] _routes = [];

        internal int Next;        // the next one to begin
        internal int Claimed;     // chunks claimed by a thread so far (may run past Chunks)
        internal int Chunks;
        internal readonly LoadList[] Loads = NewLoads();
        internal Task? Routing;   // the other thread's share; null once it is known done (or there was none)

        /// <summary>Lookups in the batch.</summary>
        public int Count { get; private set; }

        public ReadOnlySpan<PlannedLookup> Lookups => _lookups.AsSpan(0, Count);

        /// <summary>Lookup i's route, written by the chunk that holds i.</summary>
        public ref TRoute Route(int i) => ref _routes[i];

        private static LoadList[] NewLoads()
        {
            var loads = new LoadList[Workload.PlanAhead / ChunkSize + 1];
            for (int i = 0; i < loads.Length; i++) loads[i] = new LoadList();
            return loads;
        }

        internal void Take(ReadOnlySpan<PlannedLookup> upcoming)
        {
            if (upcoming.Length > Workload.PlanAhead) throw new InvalidOperationException($"{upcoming.Length} lookups planned at once; at most {Workload.PlanAhead} are");
            if (_lookups.Length < upcoming.Length)
            {
                _lookups = new PlannedLookup[upcoming.Length];
                _routes = new TRoute[upcoming.Length];
            }
            upcoming.CopyTo(_lookups);
            Count = upcoming.Length;
            Next = 0;
            Claimed = 0;
            Chunks = (Count + ChunkSize - 1) / ChunkSize;
            for (int c = 0; c < Chunks; c++) Loads[c].Count = 0;
        }
    }

    private readonly RouteChunk _route;
    private readonly Queue<Batch> _batches = new();
    private readonly Stack<Batch> _spare = new();
    private Batch? _routing;   // the last batch given to the other thread, until it is known done

    public AheadBatches(RouteChunk route) => _route = route;

    /// <summary>Lookups told of that have not begun.</summary>
    public int Pending { get; private set; }

    /// <summary>Takes the next lookups (<see cref="ILookupPlanner.Plan"/>) and routes them, here or on the other thread.</summary>
    public void Plan(ReadOnlySpan<PlannedLookup> upcoming)
    {
        if (upcoming.IsEmpty) return;
        Batch batch = _spare.Count > 0 ? _spare.Pop() : new Batch();
        batch.Take(upcoming);
        _batches.Enqueue(batch);
        Pending += batch.Count;
        if (!RoutesElsewhere)
        {
            RouteChunks(batch, worker: 0);
            return;
        }
        // One batch on the other thread at a time: its state is its own, and the batch before this one begins next anyway.
        if (_routing is { } before) Finish(before);
        _routing = batch;
        batch.Routing = Task.Run(() => RouteChunks(batch, worker: 1));
    }

    /// <summary>
    /// The route of the lookup <paramref name="lookup"/> that begins now, which must be the next told of (its batch's
    /// loads are added to <paramref name="transport"/> when it is the batch's first).
    /// </summary>
    public TRoute Begin(Transport transport, in LookupRecord lookup)
    {
        Batch batch = _batches.Peek();
        if (batch.Next == 0)
        {
            if (batch.Routing is not null) Finish(batch);
            for (int c = 0; c < batch.Chunks; c++) transport.AddLoads(batch.Loads[c].Machines.AsSpan(0, batch.Loads[c].Count));
        }
        int i = batch.Next++;
        PlannedLookup planned = batch.Lookups[i];
        if (planned.Origin != lookup.Origin || planned.Key != lookup.Key)
            throw new InvalidOperationException($"lookup of {lookup.Key} from node {lookup.Origin} began, but the next one planned was of {planned.Key} from node {planned.Origin}");
        TRoute route = batch.Route(i);
        if (batch.Next == batch.Count) _spare.Push(_batches.Dequeue());
        Pending--;
        return route;
    }

    /// <summary>Routes the chunks of <paramref name="batch"/> no thread has claimed yet, then waits for the other thread's.</summary>
    private void Finish(Batch batch)
    {
        RouteChunks(batch, worker: 0);
        batch.Routing!.GetAwaiter().GetResult();   // rethrows what went wrong there, as it was
        batch.Routing = null;
        if (_routing == batch) _routing = null;
    }

    /// <summary>Claims chunks of <paramref name="batch"/> one at a time and routes them, until none is left.</summary>
    private void RouteChunks(Batch batch, int worker)
    {
        int chunk;
        while ((chunk = Interlocked.Increment(ref batch.Claimed) - 1) < batch.Chunks)
        {
            int from = chunk * ChunkSize;
            _route(batch, from, Math.Min(batch.Count, from + ChunkSize), batch.Loads[chunk], worker);
        }
    }
}

/// <summary>The machines of a chunk's measured messages (<see cref="AheadBatches{TRoute}"/>), one entry per message.</summary>
public sealed class LoadList
{
    public int[] Machines = new int[2048];   // about 32 messages for each lookup of a chunk; grown by doubling

    public int Count;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Add(int machine)
    {
        if (Count == Machines.Length) Array.Resize(ref Machines, 2 * Machines.Length);
        Machines[Count++] = machine;
    }
}
