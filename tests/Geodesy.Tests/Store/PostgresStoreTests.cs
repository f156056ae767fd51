using System.Net;
using System.Net.Sockets;
using Geodesy.Core;
using Geodesy.Experiments.Store;

namespace Geodesy.Tests.Store;

[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Key, TestCategory.Service)]
public sealed class PostgresStoreContractTests(PostgresServer server) : StoreContractTests
{
    protected override string NewStoreUri() => server.CreateDatabase();
}

[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Key, TestCategory.Service)]
public sealed class PostgresStoreTests(PostgresServer server)
{
    private static readonly TimeSpan ShortConnectTimeout = TimeSpan.FromSeconds(3);

    [Fact]
    public void Open_OnAPortWithNoServer_SaysConnectionRefused()
    {
        int port = UnusedPort();
        var e = Assert.Throws<ComputationException>(() =>
            StoreFactory.Open($"postgres://{PostgresServer.User}:pw@127.0.0.1:{port}/db", ShortConnectTimeout));
        Assert.Equal($"cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused", e.Message);
    }

    [Fact]
    public void Open_WithAWrongPassword_SaysPasswordAuthenticationFailed()
    {
        string db = new Uri(server.CreateDatabase()).AbsolutePath.TrimStart('/');
        var e = Assert.Throws<ComputationException>(() => StoreFactory.Open(server.Uri(db, password: "wrong"), ShortConnectTimeout));
        Assert.Equal($"PostgreSQL rejected user '{PostgresServer.User}': password authentication failed", e.Message);
        Assert.DoesNotContain("wrong", e.Message);
    }

    [Fact]
    public void Open_WithAnUnknownUser_IsRejectedInOneLine()
    {
        var e = Assert.Throws<ComputationException>(() =>
            StoreFactory.Open(server.Uri("postgres", user: "nobody"), ShortConnectTimeout));
        Assert.Equal("PostgreSQL rejected user 'nobody': password authentication failed", e.Message);
    }

    [Fact]
    public void Open_OnAMissingDatabase_NamesIt()
    {
        var e = Assert.Throws<ComputationException>(() => StoreFactory.Open(server.Uri("no_such_db"), ShortConnectTimeout));
        Assert.Equal($"PostgreSQL database 'no_such_db' does not exist at 127.0.0.1:{server.Port}", e.Message);
    }

    [Fact]
    public void Open_AcceptsThePostgresqlScheme_AndDescribesItselfWithoutThePassword()
    {
        string uri = server.CreateDatabase().Replace("postgres://", "postgresql://", StringComparison.Ordinal);
        using var store = StoreFactory.Open(uri);
        Assert.Equal(StoreSchema.CurrentVersion, store.GetSchemaVersion());
        Assert.DoesNotContain(server.Password, store.Description);
        Assert.StartsWith($"postgres://{PostgresServer.User}@127.0.0.1:{server.Port}/", store.Description);
    }

    private static int UnusedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
