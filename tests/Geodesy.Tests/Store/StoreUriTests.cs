using Geodesy.Core;
using Geodesy.Experiments.Store;

namespace Geodesy.Tests.Store;

public sealed class StoreUriTests
{
    [Theory]
    [InlineData("sqlite:study.db", "study.db")]
    [InlineData("sqlite:/abs/dir/study.db", "/abs/dir/study.db")]
    [InlineData("SQLite:runs/x.db", "runs/x.db")]
    public void Sqlite_TakesThePathAfterTheColon(string uri, string path) =>
        Assert.Equal(new SqliteUri(path), StoreUri.Parse(uri));

    [Theory]
    [InlineData("postgres://alice@db.lab:5433/geo", "alice", null, "db.lab", 5433, "geo")]
    [InlineData("postgresql://alice:s3cret@10.0.0.5/geo", "alice", "s3cret", "10.0.0.5", 5432, "geo")]
    [InlineData("postgres://a%40b:p%3Aw%2F@[::1]:6000/my%20db", "a@b", "p:w/", "::1", 6000, "my db")]
    [InlineData("postgres://u:@h:1/d", "u", "", "h", 1, "d")]
    public void Postgres_ParsesUserPasswordHostPortDatabase(string uri, string user, string? password, string host, int port, string db) =>
        Assert.Equal(new PostgresUri(user, password, host, port, db), StoreUri.Parse(uri));

    [Theory]
    [InlineData("", "has no scheme")]
    [InlineData("study.db", "has no scheme")]
    [InlineData("/tmp/study.db", "has no scheme")]
    [InlineData("mysql://u:pw@h/db", "unknown store scheme 'mysql'")]
    [InlineData("sqlite:", "has no file path")]
    [InlineData("sqlite:///tmp/x.db", "ambiguous")]
    [InlineData("sqlite::memory:", "not a plain file path")]
    [InlineData("postgres:u@h/db", "missing '//'")]
    [InlineData("postgres://u:pw@h:5432", "missing '/database'")]
    [InlineData("postgres://h:5432/db", "missing 'user@'")]
    [InlineData("postgres://:pw@h/db", "empty user")]
    [InlineData("postgres://u:pw@:5432/db", "empty host")]
    [InlineData("postgres://u:pw@h:/db", "port '' is not a number")]
    [InlineData("postgres://u:pw@h:99999/db", "port '99999' is not a number from 1 to 65535")]
    [InlineData("postgres://u:pw@h:54x/db", "port '54x'")]
    [InlineData("postgres://u:pw@h:1:2/db", "more than one ':'")]
    [InlineData("postgres://u:pw@[::1/db", "unclosed '['")]
    [InlineData("postgres://u:pw@h/", "empty database name")]
    [InlineData("postgres://u:pw@h/a/b", "must not contain '/'")]
    [InlineData("postgres://u:pw@h/db?sslmode=require", "query parameters")]
    [InlineData("postgres://u:p@w@h/db", "'@' in the user or password")]
    [InlineData("postgres://u:pw%zz@h/db", "bad percent-escape in the password")]
    public void Malformed_IsAOneLineInputError_WithoutThePassword(string uri, string expected)
    {
        var e = Assert.Throws<InputException>(() => StoreUri.Parse(uri));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain(":pw", e.Message);
        Assert.DoesNotContain("pw%zz", e.Message);
    }

    [Fact]
    public void Factory_RejectsAnUnknownSchemeBeforeConnecting()
    {
        var e = Assert.Throws<InputException>(() => StoreFactory.Open("redis://h/0"));
        Assert.Equal("unknown store scheme 'redis' in 'redis://h/0': " + StoreUri.Usage, e.Message);
    }
}
