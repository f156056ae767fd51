using Geodesy.Core;

namespace Geodesy.Experiments.Store;

/// <summary>A parsed store URI: either a SQLite file or a PostgreSQL server.</summary>
public abstract record StoreUri
{
    public const string Usage = "use sqlite:PATH or postgres://user[:password]@host[:port]/database";

    /// <summary>The URI with the password removed.</summary>
    public abstract string Redacted { get; }

    /// <summary>Parses strictly; every mistake is an <see cref="InputException"/> naming the URI (without
    /// its password) and what is wrong.</summary>
    public static StoreUri Parse(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        int colon = uri.IndexOf(':');
        if (uri.Length == 0 || colon <= 0)
            throw new InputException($"store URI '{uri}' has no scheme: {Usage}");
        string scheme = uri[..colon].ToLowerInvariant();
        return scheme switch
        {
            "sqlite" => SqliteUri.ParseBody(uri, uri[(colon + 1)..]),
            "postgres" or "postgresql" => PostgresUri.ParseBody(uri, uri[(colon + 1)..]),
            _ => throw new InputException(
                $"unknown store scheme '{uri[..colon]}' in '{PostgresUri.RedactAny(uri)}': {Usage}"),
        };
    }
}

/// <summary><c>sqlite:PATH</c>; PATH is relative to the current directory or absolute.</summary>
public sealed record SqliteUri(string Path) : StoreUri
{
    public override string Redacted => $"sqlite:{Path}";

    internal static SqliteUri ParseBody(string uri, string path)
    {
        if (path.Length == 0)
            throw new InputException($"store URI '{uri}' has no file path: write sqlite:PATH, e.g. sqlite:study.db");
        if (path.StartsWith("//", StringComparison.Ordinal))
            throw new InputException(
                $"store URI '{uri}' is ambiguous: write sqlite:PATH without '//', e.g. sqlite:study.db or sqlite:/abs/study.db");
        if (path == ":memory:" || path.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || path.Contains('?'))
            throw new InputException(
                $"store URI '{uri}' is not a plain file path: the store must be a file that several workers can open");
        if (path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0 || path.Contains('\0'))
            throw new InputException($"store URI '{uri}' has invalid characters in its path");
        return new SqliteUri(path);
    }
}

/// <summary><c>postgres://user[:password]@host[:port]/database</c> (or <c>postgresql://</c>). User,
/// password and database may be percent-encoded; IPv6 hosts are written in brackets.</summary>
public sealed record PostgresUri(string User, string? Password, string Host, int Port, string Database) : StoreUri
{
    public const int DefaultPort = 5432;

    public override string Redacted =>
        $"postgres://{Uri.EscapeDataString(User)}@{HostForDisplay}:{Port}/{Uri.EscapeDataString(Database)}";

    /// <summary>host:port as people write it (brackets around IPv6).</summary>
    public string Endpoint => $"{HostForDisplay}:{Port}";

    private string HostForDisplay => Host.Contains(':') ? $"[{Host}]" : Host;

    // Keeps passwords out of error messages even when the URI does not parse.
    internal static string RedactAny(string uri)
    {
        int scheme = uri.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return uri;
        int at = uri.LastIndexOf('@');
        int colon = uri.IndexOf(':', scheme + 3);
        if (at < 0 || colon < 0 || colon > at) return uri;
        return uri[..(colon + 1)] + "***" + uri[at..];
    }

    internal static PostgresUri ParseBody(string uri, string body)
    {
        string shown = RedactAny(uri);
        InputException Bad(string what) =>
            new($"malformed store URI '{shown}': {what}; expected postgres://user[:password]@host[:port]/database");

        if (!body.StartsWith("//", StringComparison.Ordinal)) throw Bad("missing '//' after the scheme");
        string rest = body[2..];
        if (rest.IndexOfAny(['?', '#']) >= 0) throw Bad("query parameters and fragments are not supported");
        int slash = rest.IndexOf('/');
        if (slash < 0) throw Bad("missing '/database'");
        string authority = rest[..slash];
        string dbPart = rest[(slash + 1)..];

        int at = authority.LastIndexOf('@');
        if (at < 0) throw Bad("missing 'user@'");
        string userInfo = authority[..at];
        string hostPort = authority[(at + 1)..];
        if (userInfo.Contains('@')) throw Bad("'@' in the user or password must be written %40");

        int pwColon = userInfo.IndexOf(':');
        string user = Decode(pwColon < 0 ? userInfo : userInfo[..pwColon], "user", Bad);
        string? password = pwColon < 0 ? null : Decode(userInfo[(pwColon + 1)..], "password", Bad);
        if (user.Length == 0) throw Bad("empty user");

        string host;
        string? portText;
        if (hostPort.StartsWith('['))
        {
            int close = hostPort.IndexOf(']');
            if (close < 0) throw Bad("unclosed '[' in the host");
            host = hostPort[1..close];
            string after = hostPort[(close + 1)..];
            if (after.Length > 0 && !after.StartsWith(':')) throw Bad("unexpected text after ']'");
            portText = after.Length > 0 ? after[1..] : null;
        }
        else
        {
            int portColon = hostPort.IndexOf(':');
            if (portColon >= 0 && hostPort.IndexOf(':', portColon + 1) >= 0)
                throw Bad("more than one ':' in host:port (write IPv6 hosts in brackets)");
            host = portColon < 0 ? hostPort : hostPort[..portColon];
            portText = portColon < 0 ? null : hostPort[(portColon + 1)..];
        }
        if (host.Length == 0) throw Bad("empty host");
        if (host.Any(c => char.IsWhiteSpace(c) || c == '/' || c == '%')) throw Bad($"invalid host '{host}'");

        int port = DefaultPort;
        if (portText is not null)
        {
            if (portText.Length == 0 || !portText.All(char.IsAsciiDigit) || !int.TryParse(portText, out port)
                || port < 1 || port > 65535)
                throw Bad($"port '{portText}' is not a number from 1 to 65535");
        }

        if (dbPart.Length == 0) throw Bad("empty database name");
        if (dbPart.Contains('/')) throw Bad("the database name must not contain '/'");
        string database = Decode(dbPart, "database", Bad);
        return new PostgresUri(user, password, host, port, database);
    }

    private static string Decode(string s, string what, Func<string, InputException> bad)
    {
        // Reject broken escapes instead of letting Uri.UnescapeDataString pass them through.
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '%') continue;
            if (i + 2 >= s.Length || !char.IsAsciiHexDigit(s[i + 1]) || !char.IsAsciiHexDigit(s[i + 2]))
                throw bad($"bad percent-escape in the {what}");
        }
        return Uri.UnescapeDataString(s);
    }
}
