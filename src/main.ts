/**
 * Composition root of the LongVideo operator. The control loop lands with the reconciler; until then this entry
 * point only reports what it is, so `make run` has something honest to start.
 */
import process from "node:process";

process.stdout.write("longvideo-operator: the control loop is not built yet\n");
