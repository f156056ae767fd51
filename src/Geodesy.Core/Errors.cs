namespace Geodesy.Core;

/// <summary>
/// A mistake in what the user gave us: a bad argument, a missing or corrupt file, a spec that does
/// not parse, data that does not fit the model. The CLI prints <see cref="Exception.Message"/> as
/// one line on stderr and exits with code 2. Messages name the thing and where it is.
/// </summary>
public class InputException : Exception
{
    public InputException(string message) : base(message) { }
    public InputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A failure while computing from valid input (divergence, a store that went away, a solver that
/// broke down). The CLI prints one line and exits with code 1.
/// </summary>
public class ComputationException : Exception
{
    public ComputationException(string message) : base(message) { }
    public ComputationException(string message, Exception inner) : base(message, inner) { }
}
