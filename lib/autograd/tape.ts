// The tape: ops record a node (inputs, output, backward rule) while gradients are enabled;
// `backward` walks it in reverse, accumulating gradients, then releases what the nodes saved.
import type { Tensor } from "../tensor/tensor.ts";

/** Given the gradient of the output, returns gradients for each input (null where none flows). */
export type BackwardRule = (gradOut: Tensor) => (Tensor | null)[];

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  backward?: BackwardRule;
}

export class Tape {
  nodes: TapeNode[] = [];

  record(node: TapeNode) {
    this.nodes.push(node);
    node.output.creator = node;
  }

  clear() {
    for (const n of this.nodes) n.output.creator = null;
    this.nodes = [];
  }
}
