using Geodesy.Cli;
using Geodesy.Core;

// Before any tensor exists: OpenMP wait policy, huge pages, malloc reuse (see NativeRuntime).
NativeRuntime.Configure();
return GeodesyCli.Run(args);
