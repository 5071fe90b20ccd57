-- VDXP hubs: only an agency the operator marks as a hub (`axis agency set-hub ORGAN on`) may
-- register or delete sub-units with registerAgency/deleteAgency, whose JSON body the SDK does not
-- sign. A unit its hub deleted may be brought back by that hub; a unit the operator disabled may
-- not (the operator's enable/disable clears vdxp_deleted_by_hub).

ALTER TABLE agencies
    ADD COLUMN vdxp_hub             boolean NOT NULL DEFAULT false,
    ADD COLUMN vdxp_deleted_by_hub  boolean NOT NULL DEFAULT false;
