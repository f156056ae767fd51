namespace Geodesy.Experiments.Store;

/// <summary>Opens a store from its URI (see docs/store.md).</summary>
public static class StoreFactory
{
    /// <summary>
    /// Parses <paramref name="uri"/> (<c>sqlite:PATH</c>, <c>postgres://user[:password]@host[:port]/db</c>
    /// or <c>postgresql://...</c>), connects, and brings the schema up to date. A malformed URI or unknown
    /// scheme is an <see cref="Geodesy.Core.InputException"/>; an unreachable server or rejected login is a
    /// <see cref="Geodesy.Core.ComputationException"/>; both carry a one-line message.
    /// </summary>
    public static IExperimentStore Open(string uri, TimeSpan? connectTimeout = null)
    {
        IExperimentStore store = StoreUri.Parse(uri) switch
        {
            SqliteUri s => new SqliteStore(s.Path),
            PostgresUri p => new PostgresStore(p, connectTimeout),
            var other => throw new InvalidOperationException($"no store for {other.GetType().Name}"),
        };
        try
        {
            store.EnsureSchema();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }
}
