namespace OverlaySim.Core;

/// <summary>What an overlay hears about nodes coming and going (its churn hooks), from the population.</summary>
public interface IMembershipListener
{
    /// <summary>A node has come up and must join through <paramref name="bootstrap"/>, a joined node it knows, or -1 when alone.</summary>
    void OnJoin(int node, int bootstrap);

    /// <summary>A node is about to leave gracefully: it is still live and may send its goodbyes.</summary>
    void OnLeave(int node);

    /// <summary>A node has gone (after <see cref="OnLeave"/> for a leave; silently for a crash).</summary>
    void OnDeparted(int node, bool graceful);
}

/// <summary>
/// The population of a run: the machines, their incarnations (node ordinals, see <see cref="NodeTable"/>), which
/// nodes have joined the overlay, joins and departures, and the bootstrap service a joining node asks for a contact.
/// </summary>
/// <remarks>
/// <para>A machine is a physical participant: it keeps its latency coordinates across sessions. Each session is one
/// ordinal, or v with virtual nodes; a machine that rejoins with a new id takes fresh ordinals, so that routing
/// entries still pointing at its old incarnation point at a dead node, as they would in reality.</para>
/// <para>A live node is part of the overlay (responsible for keys, in the global view) only once the overlay reports
/// its join complete with <see cref="Joined"/>.</para>
/// </remarks>
public sealed class Population
{
    private readonly IdSpace _space;
    private readonly MeasurementWindow _window;
    private readonly Simulator _sim;
    private readonly Transport _transport;
    private bool[] _machineUp;
    private bool[] _upInWindow;    // per machine: up at some time inside the measurement window (set on departure)
    private bool[] _joined;        // per ordinal: live and part of the overlay (in the global view)
    private int[] _machineBase;    // first ordinal of the machine's current (or last) incarnation, -1 if none yet
    private bool[] _server;        // per machine: infrastructure of the overlay (a central index), not a peer
    private Xoshiro256 _rejoinIds;
    private Xoshiro256 _bootstrapRng;
    private long _lastLiveChange;
    private double _liveNodeSeconds;

    public Population(IdSpace space, NodeTable nodes, RandomStreams streams, int virtualNodes, MeasurementWindow window, Simulator sim, Transport transport)
    {
        _space = space;
        Nodes = nodes;
        VirtualNodes = virtualNodes;
        _window = window;
        _sim = sim;
        _transport = transport;
        View = new Oracle(space);
        View.Rebuild(nodes);
        MachineCount = (nodes.Count + virtualNodes - 1) / virtualNodes;
        _machineUp = new bool[MachineCount];
        _upInWindow = new bool[MachineCount];
        _machineBase = LargeArray.Zeroed<int>(MachineCount);
        _server = new bool[MachineCount];
        for (int m = 0; m < MachineCount; m++)
        {
            _machineBase[m] = m * virtualNodes;
            _machineUp[m] = nodes.IsAlive(m * virtualNodes);
        }
        _rejoinIds = streams.Stream("ids/rejoin");
        _bootstrapRng = streams.Stream("bootstrap");
        _joined = new bool[nodes.Capacity];
        for (int i = 0; i < nodes.Count; i++) _joined[i] = nodes.IsAlive(i);
        nodes.Grown += capacity => Array.Resize(ref _joined, capacity);
    }

    public NodeTable Nodes { get; }

    /// <summary>v: node ordinals (ids) per machine.</summary>
    public int VirtualNodes { get; }

    public int MachineCount { get; private set; }

    /// <summary>The joined nodes in id order: for static builds, the ground truth and metrics; never for protocol decisions.</summary>
    internal Oracle View { get; }

    /// <summary>The overlay's churn hooks.</summary>
    internal IMembershipListener? Members { get; set; }

    /// <summary>The keys the overlay stores, if any: a departed node's copies are removed with it.</summary>
    internal KeyStore? Store { get; set; }

    public bool IsMachineUp(int machine) => _machineUp[machine];

    /// <summary>Whether the machine was up at some time inside the measurement window (so far).</summary>
    public bool WasUpInWindow(int machine) => _upInWindow[machine] || (_machineUp[machine] && _sim.Now >= _window.From);

    /// <summary>The ordinals of a machine's current (or last) incarnation.</summary>
    public int MachineBase(int machine) => _machineBase[machine];

    /// <summary>
    /// Whether a departed node's ordinal is retired (<see cref="NodeTable.Retire"/>): true when machines come back with
    /// new ids (churn's <c>new_id_on_rejoin</c>), so that the departed incarnation will never be alive again and its
    /// overlay state can be reused by the next new node.
    /// </summary>
    public bool RetireDeparted { get; internal set; }

    /// <summary>Adds a machine that has never been up (rate churn, traces); returns its index.</summary>
    public int AddMachine()
    {
        int m = MachineCount++;
        if (m == _machineUp.Length)
        {
            int n = Math.Max(16, m * 2);
            Array.Resize(ref _machineUp, n);
            Array.Resize(ref _upInWindow, n);
            Array.Resize(ref _server, n);
            int old = _machineBase.Length;
            Array.Resize(ref _machineBase, n);
            Array.Fill(_machineBase, -1, old, n - old);
        }
        _machineBase[m] = -1;
        _transport.EnsureMachines(MachineCount);
        return m;
    }

    /// <summary>
    /// Adds a server machine of the overlay's own (a central index), up and joined from now on, and returns its node. A
    /// server is not a peer: the workload never picks it as an origin, random and mass failures never pick it, the
    /// bootstrap service never hands it out; only a churn trace that names its machine (or the overlay itself) takes
    /// it down. It counts in degree and load like any machine.
    /// </summary>
    public int AddServer()
    {
        int machine = AddMachine();
        _server[machine] = true;
        AccrueLive();
        int node = Nodes.Add(DrawFreshId(), machine);
        _machineBase[machine] = node;
        _machineUp[machine] = true;
        LiveServers++;
        Nodes.SetAlive(node);
        Joined(node);
        return node;
    }

    /// <summary>Server machines up now: live nodes less these are the peers (the workload's per-node rate counts peers).</summary>
    public int LiveServers { get; private set; }

    /// <summary>Whether the machine is a server of the overlay (<see cref="AddServer"/>) rather than a peer.</summary>
    public bool IsServer(int machine) => _server[machine];

    /// <summary>A uniformly chosen live peer (not a server), from <paramref name="rng"/>; -1 when there is none.</summary>
    public int RandomLivePeer(ref Xoshiro256 rng)
    {
        int live = Nodes.LiveCount;
        for (int attempt = 0; live > 0 && attempt < 64; attempt++)
        {
            int c = Nodes.LiveAt(rng.NextInt(live));
            if (!_server[Nodes.Machine[c]]) return c;
        }
        for (int i = 0; i < live; i++)
            if (!_server[Nodes.Machine[Nodes.LiveAt(i)]]) return Nodes.LiveAt(i);
        return -1;
    }

    /// <summary>
    /// Brings a machine up: its ordinals become live (fresh ordinals with new ids when <paramref name="newId"/>, or on
    /// its first session; its old ordinals, same ids, otherwise), and each joins the overlay through a bootstrap node
    /// drawn uniformly from the nodes that have joined (from the "bootstrap" stream).
    /// </summary>
    public void JoinMachine(int machine, bool newId)
    {
        if (_machineUp[machine]) return;
        AccrueLive();
        if (newId || _machineBase[machine] < 0 || Nodes.IsRetired(_machineBase[machine]))
        {
            // The previous incarnation is done with for good; a machine that starts down has one that never lived.
            if (RetireDeparted && _machineBase[machine] >= 0)
                for (int v = 0; v < VirtualNodes; v++) Nodes.Retire(_machineBase[machine] + v);
            int first = -1;
            for (int v = 0; v < VirtualNodes; v++)
            {
                int node = Nodes.Add(DrawFreshId(), machine);
                if (v == 0) first = node;
            }
            _machineBase[machine] = first;
        }
        _machineUp[machine] = true;
        if (_server[machine]) LiveServers++;
        int b = _machineBase[machine];
        for (int v = 0; v < VirtualNodes; v++) Nodes.SetAlive(b + v);
        // The bootstrap comes from a stream of its own: which nodes have joined depends on the protocol's timing,
        // so drawing it from the churn stream would let the workload move churn events.
        for (int v = 0; v < VirtualNodes; v++) Members!.OnJoin(b + v, RandomJoined(b + v, ref _bootstrapRng));
    }

    /// <summary>Takes a machine down: a graceful leave lets the overlay say goodbye first; a crash says nothing.</summary>
    public void DepartMachine(int machine, bool graceful)
    {
        if (!_machineUp[machine]) return;
        AccrueLive();
        if (_sim.Now >= _window.From) _upInWindow[machine] = true;
        int b = _machineBase[machine];
        if (graceful)
            for (int v = 0; v < VirtualNodes; v++) Members!.OnLeave(b + v);
        for (int v = 0; v < VirtualNodes; v++)
        {
            int node = b + v;
            Nodes.SetDead(node);
            if (_joined[node]) View.Remove(Nodes.Ids[node]);
            _joined[node] = false;
            Store?.RemoveNode(node);
            Members!.OnDeparted(node, graceful);
            if (RetireDeparted) Nodes.Retire(node);
        }
        _machineUp[machine] = false;
        if (_server[machine]) LiveServers--;
    }

    /// <summary>The overlay reports that a live node has finished joining: from now on it is responsible for keys.</summary>
    public void Joined(int node)
    {
        if (!Nodes.IsAlive(node) || _joined[node]) return;
        if (_joined.Length < Nodes.Capacity) Array.Resize(ref _joined, Nodes.Capacity);
        _joined[node] = true;
        View.Insert(Nodes.Ids[node], node);
    }

    /// <summary>Whether the bootstrap service knows a joined node other than <paramref name="self"/>: whether there is anyone to join through.</summary>
    public bool HasOtherJoined(int self) => View.Count > (IsJoined(self) ? 1 : 0);

    /// <summary>Whether a live node is part of the overlay (its join has completed).</summary>
    public bool IsJoined(int node) => node < _joined.Length && _joined[node];

    /// <summary>
    /// The overlay reports that a live node has lost its place (it knows no other node and must join again): it
    /// stops being responsible for keys until <see cref="Joined"/> is called again.
    /// </summary>
    public void Unjoined(int node)
    {
        if (!_joined[node]) return;
        _joined[node] = false;
        View.Remove(Nodes.Ids[node]);
    }

    /// <summary>
    /// A uniformly chosen node that has joined the overlay, other than <paramref name="self"/>'s machine and other than a
    /// server, or -1: what a bootstrap service hands a joining node.
    /// </summary>
    public int RandomJoined(int self, ref Xoshiro256 rng)
    {
        int live = Nodes.LiveCount;
        int machine = self >= 0 ? Nodes.Machine[self] : -1;
        for (int attempt = 0; live > 0 && attempt < 64; attempt++)
        {
            int c = Nodes.LiveAt(rng.NextInt(live));
            if (Nodes.Machine[c] != machine && _joined[c] && !_server[Nodes.Machine[c]]) return c;
        }
        // Few joined nodes among many live ones: fall back on a scan, in live-list order (deterministic).
        for (int i = 0; i < live; i++)
        {
            int c = Nodes.LiveAt(i);
            if (Nodes.Machine[c] != machine && _joined[c] && !_server[Nodes.Machine[c]]) return c;
        }
        return -1;
    }

    /// <summary>Integral of the live node count over the measurement window so far, in node·seconds.</summary>
    public double LiveNodeSeconds
    {
        get
        {
            AccrueLive();
            return _liveNodeSeconds;
        }
    }

    private void AccrueLive()
    {
        long now = Math.Min(_sim.Now, _window.Until);
        long from = Math.Max(_lastLiveChange, _window.From);
        if (now > from) _liveNodeSeconds += Nodes.LiveCount * ((now - from) / 1e6);
        _lastLiveChange = Math.Max(_lastLiveChange, now);
    }

    private Id DrawFreshId()
    {
        while (true)
        {
            Id id = _space.Random(ref _rejoinIds);
            if (View.FirstAtOrAfter(id, out Id found) < 0 || found != id) return id;
        }
    }
}
