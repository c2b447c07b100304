import { describe, expect, it } from "vitest";
import { compareIds, idTime, maxId, parseJSONLossless, syncStart } from "../../src/index.js";

describe("ids", () => {
  it("compares decimal strings numerically", () => {
    expect(compareIds("9", "10")).toBeLessThan(0);
    expect(compareIds("265191234567340032", "265191234567340031")).toBeGreaterThan(0);
    expect(compareIds("", "0")).toBe(0);
    expect(maxId("99", "100")).toBe("100");
  });

  it("computes the id's time and the sync start with BigInt (section 2, 9)", () => {
    const ms = 1732500000123;
    const id = ((BigInt(ms) - 1704067200000n) << 22n) | (5n << 12n) | 7n;
    expect(idTime(id.toString())).toBe(ms);
    expect(syncStart(id.toString())).toBe((id - (60000n << 22n)).toString());
    expect(syncStart("12345")).toBe("0");
  });

  it("parses JSON without rounding 63-bit numbers, outside strings only", () => {
    const v = parseJSONLossless('{"msg_id":265191234567340033,"n":42,"f":1.5e3,"s":"x:265191234567340033,","a":[-9223372036854775807,"\\"1234567890123456789"]}') as any;
    expect(v.msg_id).toBe("265191234567340033");
    expect(v.n).toBe(42);
    expect(v.f).toBe(1500);
    expect(v.s).toBe("x:265191234567340033,");
    expect(v.a).toEqual(["-9223372036854775807", '"1234567890123456789']);
  });
});
